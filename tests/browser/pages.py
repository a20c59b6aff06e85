"""Page objects of the browser walk: one `Person` per browser context (its own cookies), with the steps each
role takes. Every page a person reaches goes through `Person.check_page`: status below 400, no CSP violation or
script error in the console, no failed request, and no serious or critical axe-core violation.

Later stages (selection, commitments, results) add their steps as methods of the role that takes them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

PASSWORD = "Motdepasse-solide-2017"
# axe rules judged by the DSFR team itself, where the design system's own markup trips them; none today.
AXE_DISABLED: list[str] = []


class BuyerSteps:
    def write_need(self: Person, title: str, *, theme: str) -> None:
        self.fill("Intitulé du besoin", title)
        self.fill("Problème à résoudre", "Nous ne savons pas combien de cyclistes empruntent nos pistes.")
        self.fill("Résultats attendus", "Des comptages horaires publiés en données ouvertes.")
        self.page.get_by_role("checkbox", name=theme).check(force=True)  # the DSFR label covers the box
        self.choose("Catégorie d'achat", "Services")
        self.fill("Montant estimé", "120 000")
        self.fill("Codes CPV", "72000000-5")
        self.choose("Horizon d'achat", "Dans 6 à 12 mois")
        self.fill("Date prévue de la consultation", "15/09/2017")
        self.fill("Personne à contacter", "Alice Acheteuse")
        self.fill("Adresse électronique de contact", "alice@mel.fr")


class DashboardSteps:
    def follow_task(self: Person, title_start: str) -> None:
        """A dashboard task is a link to where the work is done, with its deadline."""
        self.goto("/tableau-de-bord/")
        row = self.page.locator("tr", has=self.page.get_by_role("link", name=re.compile("^" + re.escape(title_start))))
        expect(row).to_have_count(1)
        assert "Sans échéance" not in row.inner_text()
        row.get_by_role("link").first.click()
        self.check_page()


class AdminSteps:
    def move_clock(self: Person, at: str) -> None:
        """Demo mode: set the simulated date (« JJ/MM/AAAA HH:MM », Paris time) at /admin/horloge."""
        self.goto("/admin/horloge")
        self.fill("Nouvelle date simulée", at)
        self.submit("Aller à cette date")
        expect(self.page.get_by_text("L'horloge indique maintenant")).to_be_visible()

    def advance_cycle(self: Person, cycle_id: int, stage_label: str, button: str = "Passer à l'étape suivante") -> None:
        self.goto(f"/admin/cycles/{cycle_id}")
        self.submit(button)
        expect(self.page.get_by_text(f"Le cycle est passé à l'étape « {stage_label} »")).to_be_visible()


class MemberSteps:
    def review_with_the_keyboard(self: Person, scores: list[str], recommendation: str) -> None:
        """A committee member's review, keyboard only: the first criteria and a draft, then a refused submission
        (the focus on the error summary), then the rest, submitted. `scores` start the levels' labels."""
        first, rest = scores[:2], scores[2:]
        groups = self.page.locator("fieldset:has(input[type=radio][name^=score_])")
        for i, score in enumerate(first):
            self.key_radio(groups.nth(i), score)
            comment = groups.nth(i).get_by_label(re.compile("^Commentaire"))
            self.tab_to(comment)
            self.page.keyboard.type("Solide.")
        self.key_submit("Enregistrer le brouillon")
        expect(self.page.get_by_text("Brouillon enregistré.")).to_be_visible()
        self.key_submit("Soumettre l'évaluation", expect_errors=True)
        groups = self.page.locator("fieldset:has(input[type=radio][name^=score_])")
        for i, score in enumerate(rest, start=len(first)):
            self.key_radio(groups.nth(i), score)
        self.key_radio(self.page.locator("fieldset:has(input[type=radio][name=recommendation])"), recommendation)
        self.key_fill("Commentaire pour le comité", "Solution mûre, à retenir.")
        self.key_fill("Commentaire pouvant être transmis", "Belle solution, bien documentée.")
        self.key_submit("Soumettre l'évaluation")
        expect(self.page.get_by_text("Votre évaluation est soumise.")).to_be_visible()


class CompanySteps:
    def sign_up(self: Person, name: str, email: str, company: str, password: str) -> None:
        self.goto("/compte/inscription")
        self.fill("Vos prénom et nom", name)
        self.fill("Adresse électronique professionnelle", email)
        self.fill("Nom de l'entreprise", company)
        self.fill(re.compile("^Mot de passe|^Nouveau mot de passe"), password)
        self.fill(re.compile("^Confirmation"), password)
        self.tick(re.compile("^J'accepte"))
        self.submit("Créer mon compte")

    def register_company(self: Person, *, headcount: str) -> None:
        self.fill("SIRET du siège", "732 829 320 00074")
        self.fill("Raison sociale", "Robotique du Nord SAS")
        self.fill("Code NAF", "6201Z")
        self.fill("Date de création", "01/03/2014")
        self.fill("Adresse du siège", "12 rue Faidherbe")
        self.fill("Code postal", "59000")
        self.fill("Commune", "Lille")
        self.fill("Dernier exercice clos", "2016")
        self.fill("Effectif", headcount)
        self.fill("Chiffre d'affaires", "1 250 000")
        self.fill("Total du bilan", "800 000,50")
        self.choose("Catégorie d'entreprise déclarée", "PME")
        self.submit("Enregistrer")

    def answer(self: Person, solution: str, *, need_title: str) -> None:
        self.fill("Nom de la solution", solution)
        self.fill("Résumé", "Des capteurs autonomes qui comptent les vélos.")
        self.fill("Description de la solution", "Capteurs sans fil et tableau de bord public.")
        self.tick("Produit ou service nouveau")
        self.fill("Ce qui est nouveau", "Comptage par radar, sans travaux de voirie.")
        self.field("Maturité technologique").select_option("7")
        self.choose("Stade de commercialisation", "Pilote ou expérimentation en cours")
        need = self.page.get_by_role("checkbox", name=re.compile("^" + re.escape(need_title)))
        expect(need).to_be_checked()
        self.page.locator("textarea[name^=fit-]:visible").fill("Compte les vélos piste par piste, heure par heure.")
        self.tick(re.compile("^Je déclare sur l'honneur"))
        self.tick(re.compile("^J'accepte que cette réponse"))


@dataclass
class Person(BuyerSteps, DashboardSteps, AdminSteps, CompanySteps, MemberSteps):
    walk: Walk
    name: str
    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    last_status: int | None = None
    twin: Page | None = None
    twin_response: Any = None
    twin_problems: list[str] = field(default_factory=list)

    # --- every page -------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.walk.base_url + path

    def goto(self, path: str, *, status: int = 200) -> Page:
        response = self.page.goto(self.url(path))
        assert response is not None and response.status == status, (path, response and response.status)
        self.check_page()
        return self.page

    def check_page(self) -> None:
        """The checks every page visited must pass, in this theme and, for a walk on both themes, in the other
        one: the same address loaded by the same person from the twin server."""
        self.page.wait_for_load_state("load")
        self.visited.append(self.page.url)
        self.walk.pages_checked += 1
        problems, self.problems = self.problems, []
        assert not problems, f"{self.page.url}: " + "; ".join(problems)
        # The browser's own date widgets speak the browser's language (« mm/dd/yyyy »): dates are French text.
        widgets = self.page.locator("input[type=date], input[type=datetime-local], input[type=month]")
        assert widgets.count() == 0, f"{self.page.url}: a date widget in the browser's language"
        # « 1 réponse(s) »: French pages agree in number (ngettext), they do not hedge with « (s) ».
        hedged = re.findall(r"\w+\(s\)", self.page.locator("body").inner_text())
        assert not hedged, f"{self.page.url}: {hedged}"
        twin = self.open_twin()
        self.axe(self.page)
        if twin is not None:
            self.check_twin(twin)

    def open_twin(self) -> Page | None:
        """Start loading this page in the other theme (it loads while axe-core runs here). Only pages reached
        by a GET or a redirect: a refused form's page (422) is a POST answer, not an address."""
        if self.walk.twin_url is None or self.last_status != 200:
            return None
        if self.twin is None:
            self.twin = self.context.new_page()
            self.twin.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
                         and self.twin_problems.append(f"{r.status} on {r.url}"))
            self.twin.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                         and self.twin_problems.append(f"console: {m.text}"))
            self.twin.on("pageerror", lambda error: self.twin_problems.append(f"script error: {error}"))
        path = self.page.url[len(self.walk.base_url):] if self.page.url.startswith(self.walk.base_url) else None
        # Each address once per person in the other theme: the themes differ in their frame and colours, not in
        # what a page says after each click (that is checked in this theme, every time).
        if path is None or (self.name, path) in self.walk.twin_seen:
            return None
        self.walk.twin_seen.add((self.name, path))
        self.twin_response = self.twin.goto(self.walk.twin_url + path, wait_until="commit")
        return self.twin

    def check_twin(self, twin: Page) -> None:
        twin.wait_for_load_state("load")
        self.walk.twin_pages_checked += 1
        status = self.twin_response.status if self.twin_response else None
        assert status == 200, f"{twin.url}: {status} in the other theme"
        problems, self.twin_problems = self.twin_problems, []
        assert not problems, f"{twin.url} (other theme): " + "; ".join(problems)
        self.axe(twin)

    def axe(self, page: Page) -> None:
        started = time.monotonic()
        if not page.evaluate("() => !!window.axe"):
            # Runtime.evaluate is not subject to the page's CSP, unlike an injected <script>.
            page.evaluate(self.walk.axe_source + "\n;0")
        result = page.evaluate(
            """async (disabled) => {
                const rules = Object.fromEntries(disabled.map(id => [id, {enabled: false}]));
                const r = await axe.run(document, {resultTypes: ['violations'], rules});
                return r.violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
            }""", AXE_DISABLED)
        self.walk.axe_seconds += time.monotonic() - started
        assert not result, f"axe-core on {page.url}:\n" + json.dumps(result, indent=1, ensure_ascii=False)

    def submit(self, label: str = "", *, expect_errors: bool = False) -> Page:
        """Press a submit button and check the page it leads to."""
        button = self.page.get_by_role("button", name=label, exact=True) if label else \
            self.page.locator("main button[type=submit]").first
        with self.page.expect_navigation():
            button.click()
        self.check_page()
        if expect_errors:
            self.expect_error_summary()
        else:
            expect(self.page.locator("#error-summary")).to_have_count(0)
        return self.page

    def expect_error_summary(self) -> None:
        """RGAA 11.10 / 11.11: a refused form puts the focus on its error summary and says so in the title."""
        summary = self.page.locator("#error-summary")
        expect(summary).to_be_visible()
        expect(summary).to_be_focused()
        assert self.page.title().startswith("Erreur"), self.page.title()

    def field(self, label: str | re.Pattern):
        """The one form control whose label starts with `label` (labels carry hints and the required mark)."""
        pattern = label if isinstance(label, re.Pattern) else re.compile("^" + re.escape(label))
        return self.page.get_by_label(pattern)

    def fill(self, label: str | re.Pattern, value: str) -> None:
        self.field(label).fill(value)

    def choose(self, label: str | re.Pattern, option: str) -> None:
        """Pick the option labelled `option`, or else the first whose label starts with it."""
        control = self.field(label)
        texts = [t.strip() for t in control.locator("option").all_text_contents()]
        control.select_option(label=option if option in texts else next((t for t in texts if t.startswith(option)),
                                                                         option))

    def tick(self, label: str | re.Pattern) -> None:
        self.field(label).check(force=True)  # the DSFR label covers the box it stands for

    # --- the keyboard alone ----------------------------------------------------------------------------

    def tab_to(self, target, *, limit: int = 80) -> None:
        """Press Tab until `target` (a locator) has the focus: it is reachable in the tab order."""
        for _ in range(limit):
            if target.evaluate("node => node === document.activeElement"):
                return
            self.page.keyboard.press("Tab")
        raise AssertionError(f"not reachable with Tab: {target}")

    def key_fill(self, label: str | re.Pattern, value: str) -> None:
        control = self.field(label)
        self.tab_to(control)
        self.page.keyboard.type(value)

    def key_tick(self, control) -> None:
        self.tab_to(control)
        self.page.keyboard.press("Space")
        expect(control).to_be_checked()

    def key_choose(self, label: str | re.Pattern, option_label: str) -> None:
        """A select, with the keyboard: focus it, then ArrowDown until the option whose text starts with
        `option_label` is selected."""
        control = self.field(label)
        self.tab_to(control)
        for _ in range(40):
            if control.evaluate("node => node.options[node.selectedIndex].text").startswith(option_label):
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"option « {option_label} » not reached with the keyboard")

    def key_radio(self, group, option_label: str, *, limit: int = 80) -> None:
        """A radio group, with the keyboard: Tab into the group (it is one tab stop), then the arrow keys until
        the option whose label starts with `option_label` is checked."""
        radios = group.locator("input[type=radio]")
        for _ in range(limit):
            if radios.evaluate_all("(nodes) => nodes.includes(document.activeElement)"):
                break
            self.page.keyboard.press("Tab")
        else:
            raise AssertionError(f"radio group not reachable with Tab: {group}")
        target = group.get_by_label(re.compile("^" + re.escape(option_label)))
        if not radios.evaluate_all("(nodes) => nodes.some(n => n.checked)"):
            self.page.keyboard.press("Space")
        for _ in range(radios.count()):
            if target.is_checked():
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"option « {option_label} » not reached with the arrow keys")

    def key_submit(self, label: str, *, expect_errors: bool = False) -> Page:
        self.tab_to(self.page.get_by_role("button", name=label, exact=True))
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")
        self.check_page()
        if expect_errors:
            self.expect_error_summary()
        return self.page

    def text(self) -> str:
        return re.sub(r"\s+", " ", self.page.locator("main").inner_text())

    # --- accounts ---------------------------------------------------------------------------------------

    def login(self, email: str, password: str = PASSWORD) -> None:
        self.goto("/compte/connexion")
        self.fill("Adresse électronique", email)
        self.fill("Mot de passe", password)
        self.submit("Se connecter")
        assert "/compte/connexion" not in self.page.url, self.text()[:500]


class Walk:
    """The browser and the people in it."""

    def __init__(self, browser: Browser, base_url: str, axe_source: str, twin_url: str | None = None):
        self.browser = browser
        self.base_url = base_url
        self.twin_url = twin_url
        self.axe_source = axe_source
        self.people: list[Person] = []
        self.pages_checked = 0
        self.twin_pages_checked = 0
        self.twin_seen: set[tuple[str, str]] = set()
        self.axe_seconds = 0.0
        self.started = time.monotonic()

    def person(self, name: str, **context_options: Any) -> Person:
        context = self.browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", **context_options)
        context.set_default_timeout(10_000)
        page = context.new_page()
        person = Person(self, name, context, page)

        def console(message):
            # A refused form answers 422: failed requests are judged by the response listener below.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                person.problems.append(f"console: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: person.problems.append(f"script error: {error}"))
        page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
                and person.problems.append(f"{r.status} on {r.url}"))

        def document(response):
            if response.request.resource_type == "document" and response.frame == page.main_frame:
                person.last_status = response.status

        page.on("response", document)
        self.people.append(person)
        return person

    def keep_artifacts(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for person in self.people:
            try:
                person.page.screenshot(path=str(folder / f"{person.name}.png"), full_page=True)
                (folder / f"{person.name}.html").write_text(person.page.content(), encoding="utf-8")
                (folder / f"{person.name}.visited.txt").write_text("\n".join(person.visited), encoding="utf-8")
            except Exception as exc:  # a closed page must not hide the test's own failure
                (folder / f"{person.name}.error.txt").write_text(repr(exc), encoding="utf-8")

    def distinct_pages(self) -> list[str]:
        """The pages visited, ids and query strings left out: /engagements/<id>, /admin/cycles/<id>…"""
        paths = set()
        for person in self.people:
            for url in person.visited:
                if url.startswith(self.base_url):
                    path = re.sub(r"/\d+(?=/|$)", "/<id>", url[len(self.base_url):].split("?")[0])
                    paths.add(re.sub(r"/[\w.-]{30,}$", "/<jeton>", path))
        return sorted(paths)

    def report(self) -> str:
        """What the walk did, for the test's output (-s) and the report."""
        pages = self.distinct_pages()
        return (f"{self.pages_checked} pages checked in this theme, {self.twin_pages_checked} in the other, "
                f"{len(pages)} distinct, in {time.monotonic() - self.started:.1f} s "
                f"(axe-core: {self.axe_seconds:.1f} s)\n" + "\n".join(pages))

    def close(self) -> None:
        for person in self.people:
            person.context.close()
