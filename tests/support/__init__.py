"""What tests need besides fixtures: builders of hand-made data and a way to run our commands."""
