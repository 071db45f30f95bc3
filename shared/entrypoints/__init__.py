"""The entry-point layer shared by the functions: HTTP and Pub/Sub plumbing, authentication,
webhook signatures and the composition root."""
