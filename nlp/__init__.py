"""Pure NLP for langnghe: text in, annotations out. No database, no HTTP, no Celery."""
