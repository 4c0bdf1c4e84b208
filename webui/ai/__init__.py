"""The AI wand's server side: the assistant (one predictor shared by all requests, assistant.py)
and getting a model for it from the page (download + export in the background, model_get.py)."""
