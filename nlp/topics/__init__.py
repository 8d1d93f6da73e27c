"""Topic modelling over stored embeddings (BERTopic), keywords and labels."""
