"""Run the development server: reloader and debugger on, bound to localhost only."""

from myapp import create_app
from myapp.cli import upgrade_database

if __name__ == "__main__":
    app = create_app({"DEBUG": True})
    upgrade_database(app)  # creates the schema on first start, applies new migrations after
    app.run(host="127.0.0.1", port=5000, debug=True, use_reloader=True)
