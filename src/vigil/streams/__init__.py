"""Streams: events pushed to a deployed anomaly model, judged with their history.

- :mod:`vigil.streams.state`: what a model's stream state holds (recent raw
  events, open sessions, the event clock per stream, open incidents, a model
  state blob per version) and its bytes;
- :mod:`vigil.streams.store`: where it lives (the database, or Redis with
  ``VIGIL_STATE_URL=redis://…``), read and written under a per-model lock so
  two replicas receiving batches of one stream keep its order;
- :mod:`vigil.streams.scoring`: a batch scored exactly as inside the whole
  series (history + batch through the model's feature extractor);
- :mod:`vigil.streams.incidents`: consecutive anomalies of a stream grouped
  into incidents, and their table.
"""
