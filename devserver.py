"""Run the development server: reloader and debugger on, bound to localhost only."""

from myapp import create_app

if __name__ == "__main__":
    app = create_app({"DEBUG": True})
    app.run(host="127.0.0.1", port=5000, debug=True, use_reloader=True)
