# Read by the flask command (via python-dotenv) in development only; gunicorn ignores it.
FLASK_APP=myapp
FLASK_DEBUG=1
