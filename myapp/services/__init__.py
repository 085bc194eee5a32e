"""The service's business logic: plain functions over a database session, no Flask request."""
