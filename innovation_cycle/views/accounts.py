"""STUB accounts: to be completed (login, logout, reset, invitation, signup, confirmation)."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import logout_user

from innovation_cycle.authz import requires

bp = Blueprint("accounts", __name__, url_prefix="/compte")


@bp.route("/connexion", methods=["GET", "POST"])
@requires("account.login")
def login():
    return render_template("base.html")


@bp.post("/deconnexion")
@requires("account.logout")
def logout():
    logout_user()
    return redirect(url_for("public.home"))


@bp.route("/inscription", methods=["GET", "POST"])
@requires("account.signup")
def signup():
    return render_template("base.html")
