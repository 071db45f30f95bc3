"""What people run: the ops CLI, the demo, the OpenAPI generator."""
