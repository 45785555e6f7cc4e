"""The model lifecycle: policies, the scheduler and what they do (retrain, promote, roll back)."""
