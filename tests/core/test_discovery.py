"""Blueprint discovery: modules defining `bp` under a package are found and registered."""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest
from flask import Blueprint

from myapp.core import ApiFlask
from myapp.core.discovery import discover_blueprints, register_blueprints
from tests.helpers import assert_problem, assert_success


def blueprint_module(name: str) -> str:
    """Source of a module whose `bp` answers GET /<name>/ with its own name."""
    return textwrap.dedent(
        f"""
        from flask import Blueprint

        bp = Blueprint({name!r}, __name__, url_prefix="/{name}")


        @bp.get("/")
        def index():
            return {{"from": {name!r}}}
        """
    )


NOT_IMPORTED = 'raise RuntimeError("this module must not be imported")\n'


@pytest.fixture
def make_package(tmp_path, monkeypatch):
    """Write a uniquely named package of modules to tmp_path and put it on sys.path.

    Takes {"relative/path.py": source}; __init__.py files are added where missing.
    """
    created = []

    def make(files: dict[str, str]) -> str:
        name = f"bp_pkg_{uuid.uuid4().hex}"
        created.append(name)
        root = tmp_path / name
        root.mkdir()
        (root / "__init__.py").write_text("")
        for relative, source in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in path.relative_to(root).parents:
                init = root / parent / "__init__.py"
                if not init.exists():
                    init.write_text("")
            path.write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    yield make
    for module in [m for m in sys.modules if m.split(".")[0] in created]:
        del sys.modules[module]


def fresh_app(disabled: list[str] | None = None) -> ApiFlask:
    """A bare ApiFlask with only the setting discovery reads."""
    app = ApiFlask(__name__)
    app.config["DISABLED_BLUEPRINTS"] = disabled or []
    return app


def test_a_blueprint_module_is_found_and_registered(make_package):
    package = make_package({"alpha.py": blueprint_module("alpha")})
    app = fresh_app()

    register_blueprints(app, package)

    assert list(app.blueprints) == ["alpha"]
    assert app.blueprints["alpha"] is sys.modules[f"{package}.alpha"].bp
    response = app.test_client().get("/alpha/")
    assert response.status_code == 200
    assert response.get_json() == {"data": {"from": "alpha"}}


def test_discover_returns_the_blueprint_objects(make_package):
    package = make_package({"alpha.py": blueprint_module("alpha")})

    [bp] = discover_blueprints(package)

    assert isinstance(bp, Blueprint)
    assert bp.name == "alpha"
    assert bp.import_name == f"{package}.alpha"


def test_sub_packages_and_their_modules_are_included(make_package):
    package = make_package(
        {
            "admin/__init__.py": blueprint_module("admin"),
            "admin/users.py": blueprint_module("users"),
            "admin/deep/audit.py": blueprint_module("audit"),
        }
    )

    names = [bp.name for bp in discover_blueprints(package)]

    assert names == ["admin", "audit", "users"]


def test_modules_without_bp_are_skipped(make_package):
    package = make_package(
        {
            "alpha.py": blueprint_module("alpha"),
            "helpers.py": "VALUE = 1\n",
            "nothing.py": "bp = None\n",
            "empty/__init__.py": "",
        }
    )

    assert [bp.name for bp in discover_blueprints(package)] == ["alpha"]
    assert f"{package}.helpers" in sys.modules


def test_order_is_sorted_by_module_path(make_package):
    package = make_package(
        {
            "zeta.py": blueprint_module("first_by_name"),
            "alpha.py": blueprint_module("zz_last_by_name"),
            "mid/__init__.py": blueprint_module("mid"),
            "mid/beta.py": blueprint_module("beta"),
            "mid_after.py": blueprint_module("mid_after"),
        }
    )
    app = fresh_app()

    names = [bp.name for bp in discover_blueprints(package)]
    register_blueprints(app, package)

    assert names == ["zz_last_by_name", "mid", "beta", "mid_after", "first_by_name"]
    assert [bp.name for bp in discover_blueprints(package)] == names
    assert list(app.blueprints) == names


@pytest.mark.parametrize(
    ("source", "error", "match"),
    [
        ("import module_that_does_not_exist_42\n", ImportError, "module_that_does_not_exist_42"),
        ("from flask import NoSuchName42\n", ImportError, "NoSuchName42"),
        ('raise RuntimeError("broken at import")\n', RuntimeError, "broken at import"),
        ("def broken(:\n", SyntaxError, r"broken\.py"),
    ],
)
def test_a_broken_module_fails_loudly_at_register_time(make_package, source, error, match):
    package = make_package({"alpha.py": blueprint_module("alpha"), "broken.py": source})
    app = fresh_app()

    with pytest.raises(error, match=match):
        register_blueprints(app, package)

    assert not app.blueprints


def test_a_disabled_module_is_absent_and_not_imported(make_package):
    package = make_package(
        {
            "alpha.py": blueprint_module("alpha"),
            "secret.py": NOT_IMPORTED,
            "admin/users.py": NOT_IMPORTED,
            "admin/audit.py": blueprint_module("audit"),
        }
    )
    app = fresh_app(disabled=["secret", "admin.users"])

    register_blueprints(app, package)

    assert list(app.blueprints) == ["audit", "alpha"]
    assert f"{package}.secret" not in sys.modules
    assert f"{package}.admin.users" not in sys.modules
    assert app.test_client().get("/alpha/").get_json() == {"data": {"from": "alpha"}}


def test_a_disabled_sub_package_is_not_imported(make_package):
    package = make_package(
        {"alpha.py": blueprint_module("alpha"), "admin/__init__.py": NOT_IMPORTED}
    )

    blueprints = discover_blueprints(package, frozenset({"admin"}))

    assert [bp.name for bp in blueprints] == ["alpha"]
    assert f"{package}.admin" not in sys.modules


def test_an_unknown_disabled_name_is_a_value_error(make_package):
    package = make_package({"alpha.py": blueprint_module("alpha"), "beta.py": NOT_IMPORTED})

    with pytest.raises(ValueError, match=r"DISABLED_BLUEPRINTS .*: alhpa$") as caught:
        register_blueprints(fresh_app(disabled=["alhpa", "beta"]), package)

    assert package in str(caught.value)
    assert "beta" not in str(caught.value).split(":")[-1]
    assert f"{package}.alpha" not in sys.modules


def test_a_bp_that_is_not_a_blueprint_is_a_type_error(make_package):
    package = make_package({"alpha.py": blueprint_module("alpha"), "wrong.py": 'bp = "alpha"\n'})

    with pytest.raises(
        TypeError, match=rf"{package}\.wrong\.bp must be a flask\.Blueprint, not str"
    ):
        register_blueprints(fresh_app(), package)


def test_register_blueprints_works_on_a_bare_api_flask(make_package):
    package = make_package({"alpha.py": blueprint_module("alpha")})
    app = ApiFlask(__name__)

    register_blueprints(app, package)

    assert list(app.blueprints) == ["alpha"]


def test_create_app_registers_the_shipped_blueprints(client):
    assert assert_success(client.get("/health")) == {"status": "ok"}
    assert assert_success(client.get("/v1/calc/add?a=1&b=2")) == {"sum": 3}


def test_create_app_leaves_out_disabled_blueprints(make_app):
    app = make_app(DISABLED_BLUEPRINTS=["calc"])
    client = app.test_client()

    assert "calc" not in app.blueprints
    assert assert_success(client.get("/health")) == {"status": "ok"}
    assert_problem(client.get("/v1/calc/add?a=1&b=2"), 404)


def test_create_app_refuses_an_unknown_disabled_blueprint(make_app):
    with pytest.raises(ValueError, match="calculator"):
        make_app(DISABLED_BLUEPRINTS=["calculator"])
