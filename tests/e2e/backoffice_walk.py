"""Every screen of the suite opens in sao: a walk over the menu tree.

As the owner's administrator and as a reseller, the test opens every menu
entry of the suite's modules that the user sees — each action window's
list (and each of its domain tabs), a record's form with each notebook
page, the record's "Open related records" and "Launch action" entries
(relate windows, wizards: opened, then left with Cancel) and "New" with
each page — and fails on any error in the browser's console or a window
that never finishes loading ("Processing" forever).

It is generic: the menu entries are read from the database (every
ir.ui.menu of a telecom_* module), so a new screen is walked without
anyone adding it here. It prints how many windows, forms and tabs it
opened.

It waits on sao's own signals, never for a time: no request in flight,
no wizard step in progress (a wizard ignores its buttons until the step
that drew its form has ended — sao's own flag, counted here) and the
"Processing" indicator hidden, over a few turns of the event loop (a
chain of sao's promises starts its next request from a timer). The
browser's animations are turned off: a Bootstrap dialog closed while it
is still fading in shows again and stays, a race a person is too slow to
meet.

One browser, one log-in per role, on the end-to-end tests' shared copy of
the demo database.

Not collected yet (the file is not named test_*). The defect that kept
it out is fixed: as Bluebell the form of "Telecom / Calls" never loaded —
its charges listed the levels above the reseller, which it may not read,
and named its parent's account, plan and company (telecom_base/wall.py,
``read_within_reach``, now lists and names only what the reader may
read; telecom_rating's test_reseller_reads_its_purchase_as_sao_does).
What keeps it out now is the walk's own race: on some runs, after a
relate window or a wizard of a form's toolbar ends, the form has no
current record for the next entry (Carriers, Rate Plans, Calls: "Export
Rates", "Import Rates", "Rate Unrated Calls"), more often under load;
once that is understood, rename this file to test_backoffice_walk.py:
  make test-sqlite TESTS=tests/e2e/backoffice_walk.py
"""
import sqlite3

import pytest

from .test_backoffice import login as log_in

# Long enough for a slow machine to answer, short against "forever".
SETTLE_TIMEOUT = 30_000

# What sao does when a user activates a menu entry, and the state of the
# tab that is in front afterwards.
JS_OPEN_MENU = """(menu_id) => {
    window.__walk_before = Sao.Tab.tabs.slice();
    Sao.Action.exec_keyword('tree_open', {
        'model': 'ir.ui.menu', 'id': menu_id}, null, false);
}"""

JS_FRONT = """() => {
    const dialog = jQuery('.wizard-dialog:visible');
    if (dialog.length) {
        return {kind: 'wizard'};
    }
    const tab = Sao.Tab.tabs.get_current();
    if (!tab) {
        return {kind: 'none'};
    }
    const opened = !window.__walk_before.includes(tab);
    if (!tab.screen) {
        return {kind: opened ? 'tab-wizard' : 'none'};
    }
    const screen = tab.screen;
    return {
        kind: 'window',
        opened: opened,
        model: screen.model_name,
        view: screen.current_view ? screen.current_view.view_type : null,
        records: screen.group ? screen.group.length : 0,
        domains: jQuery(tab.el).find('.tab-domain > .nav-tabs a').length,
    };
}"""

# Until the browser is idle: no request in flight and sao's "Processing"
# hidden for QUIET turns of the event loop in a row. jQuery runs each step
# of a promise chain from a timer, so a chain's next request starts before
# the next turn of this check.
QUIET = 5
JS_IDLE = f"""() => new Promise((resolve) => {{
    let quiet = 0;
    const check = () => {{
        const busy = jQuery.active > 0 || window.__walk_steps > 0
            || jQuery('#processing').is(':visible');
        quiet = busy ? 0 : quiet + 1;
        if (quiet >= {QUIET}) {{
            resolve(true);
        }} else {{
            setTimeout(check, busy ? 20 : 0);
        }}
    }};
    check();
}})"""

# Set up once a page is loaded. Bootstrap's dialogs fade in and out on
# timers: shown and hidden at once instead, so a dialog is in its final
# state when sao's request ends. And the wizard steps in progress are
# counted: a step ends after its requests, when its form is drawn.
JS_PREPARE = """() => {
    jQuery.support.transition = false;
    jQuery.fx.off = true;
    window.__walk_steps = 0;
    const process = Sao.Wizard.prototype.process;
    Sao.Wizard.prototype.process = function(state) {
        window.__walk_steps += 1;
        return jQuery.when(process.call(this, state)).always(() => {
            window.__walk_steps -= 1;
        });
    };
}"""


def login(page, url, user, password):
    "Log in and wait until the menu is loaded: before, RPCs are refused"
    log_in(page, url, user, password)
    page.wait_for_function("""Sao.main_menu_screen
        && Sao.main_menu_screen.group
        && Sao.main_menu_screen.group.length > 0""")
    page.evaluate(JS_PREPARE)


def restart(page, url, user, password):
    "Start again from a fresh page, logged in"
    page.reload()
    login_field = page.locator('#login')
    try:
        login_field.wait_for(state='visible', timeout=5_000)
    except Exception:
        pass
    if login_field.is_visible():
        login(page, url, user, password)
    else:
        page.wait_for_function("""Sao.main_menu_screen
            && Sao.main_menu_screen.group
            && Sao.main_menu_screen.group.length > 0""")
        page.evaluate(JS_PREPARE)


def suite_menus(database):
    "The ids of every menu entry of the suite's modules, in tree order"
    with sqlite3.connect(f'file:{database}?mode=ro', uri=True) as connection:
        rows = connection.execute(
            "SELECT d.db_id FROM ir_model_data AS d "
            "JOIN ir_ui_menu AS m ON m.id = d.db_id "
            "WHERE d.model = 'ir.ui.menu' AND d.module LIKE 'telecom\\_%' "
            "ESCAPE '\\' ORDER BY m.parent, m.sequence, m.id").fetchall()
    return [r[0] for r in rows]


class Walk:
    "One user's walk, with what it opened and what went wrong"

    def __init__(self, page):
        self.page = page
        self.errors = []
        self.windows = self.forms = self.tabs = self.wizards = 0
        self.where = ''
        page.on('console', self._console)
        page.on('pageerror', lambda error: self.errors.append(
                f"{self.where}: {error}"))
        page.on('dialog', self._alert)

    def _console(self, message):
        if message.type == 'error':
            self.errors.append(f"{self.where}: {message.text}")

    def _alert(self, dialog):
        if dialog.type == 'beforeunload':
            # Leaving sao with a tab open: the walk's own restart.
            dialog.accept()
            return
        self.errors.append(f"{self.where}: alert {dialog.message!r}")
        dialog.dismiss()

    def settle(self):
        "Until the browser is idle, or fail"
        try:
            self.call(JS_IDLE)
        except Exception:
            self.errors.append(
                f"{self.where}: still processing after "
                f"{SETTLE_TIMEOUT // 1000} s")
            raise
        self.check_error_dialog()

    def check_error_dialog(self):
        "sao shows a server error in a modal: that is a failure too"
        text = self.page.evaluate("""() => jQuery(
            '.modal:visible .alert-danger, .modal:visible .error-dialog')
            .text()""")
        if text:
            self.errors.append(f"{self.where}: error dialog {text!r}")
            self.page.keyboard.press('Escape')

    def call(self, js, arg=None):
        """Run the JavaScript function ``js`` on ``arg`` in the page and
        return what its promise gives; fail after SETTLE_TIMEOUT"""
        return self.page.evaluate(f"""(arg) => Promise.race([
            Promise.resolve(({js})(arg)),
            new Promise((resolve, reject) => setTimeout(() => reject(
                new Error('no answer in {SETTLE_TIMEOUT} ms')),
                {SETTLE_TIMEOUT}))])""", arg)

    def front(self):
        return self.call(JS_FRONT)

    def menus_seen(self, menu_ids):
        "The menu entries with an action the signed-in user may open"
        return self.call("""(ids) => Sao.rpc({
            'method': 'model.ir.ui.menu.search_read',
            'params': [[['id', 'in', ids]],
                0, null, null, ['complete_name', 'action'], {}],
        }, Sao.Session.current_session).then((menus) => menus
            .filter((m) => m.action)
            .map((m) => [m.id, m.complete_name]))""",
            menu_ids)

    def walk_menu(self, menu_id, name):
        self.where = name
        self.call(JS_OPEN_MENU, menu_id)
        self.settle()
        self.visit_front(name)

    def visit_front(self, name):
        front = self.front()
        if front['kind'] == 'wizard':
            self.wizards += 1
            self.end_wizard()
        elif front['kind'] == 'tab-wizard':
            self.wizards += 1
            self.close_tab()
        elif front['kind'] == 'window' and front['opened']:
            self.visit_window(front, name)
        else:
            # A wizard that did its work without a dialog (an export).
            self.wizards += 1

    def end_wizard(self):
        "Leave a wizard dialog by its Cancel button"
        dialog = self.page.locator('.wizard-dialog:visible').last
        buttons = dialog.locator('.modal-footer button')
        cancel = buttons.filter(has_text='Cancel')
        (cancel if cancel.count() else buttons).first.click()
        self.settle()
        if self.call("() => jQuery('.wizard-dialog:visible').length"):
            self.errors.append(f"{self.where}: Cancel left the dialog open")

    def close_tab(self):
        """Close the tab in front, dropping what the walk left in it (a
        new record) without the question whether to save it"""
        self.call("""() => {
            const tab = Sao.Tab.tabs.get_current();
            tab._close_allowed = () => jQuery.when();
            return new Promise((resolve) => tab.close().always(resolve));
        }""")
        self.settle()

    def visit_window(self, front, name, relate=True):
        self.windows += 1
        for index in range(1, front['domains']):
            self.where = f"{name} › domain tab {index}"
            self.call("""(i) => { jQuery(Sao.Tab.tabs.get_current().el)
                .find('.tab-domain > .nav-tabs a').eq(i).click(); }""", index)
            self.settle()
            self.tabs += 1
        if front['view'] != 'form' and front['records']:
            self.where = f"{name} › form"
            self.call("""() => {
                const screen = Sao.Tab.tabs.get_current().screen;
                screen.current_record = screen.group[0];
                return new Promise((resolve) =>
                    screen.switch_view('form').always(resolve));
            }""")
            self.settle()
        front = self.front()
        if front['view'] == 'form' and front['records']:
            self.forms += 1
            self.visit_pages(f"{name} › form")
            if relate:
                self.visit_toolbar(name)
        self.where = f"{name} › New"
        can_create = self.call("""() => {
            const tab = Sao.Tab.tabs.get_current();
            if (!Sao.common.MODELACCESS.get(tab.screen.model_name).create
                    || tab.screen.readonly) {
                return false;
            }
            // The screen's New, as the toolbar's but without asking to
            // save the record shown (the walk changed nothing).
            tab.screen.new_();
            return true;
        }""")
        self.settle()
        if can_create and self.front().get('view') == 'form':
            self.forms += 1
            self.visit_pages(f"{name} › New")
        self.where = f"{name} › close"
        self.close_tab()

    def visit_pages(self, where):
        "Click each notebook page of the form in front"
        pages = self.page.locator(
            '#tabcontent > .tab-pane.active .form .nav-tabs > li > a')
        for index in range(pages.count()):
            link = pages.nth(index)
            if not link.is_visible():
                continue
            self.where = f"{where} › page {link.inner_text().strip()!r}"
            link.click()
            self.settle()
            self.tabs += 1

    def visit_toolbar(self, name):
        "Each relate window and wizard of the record in front"
        entries = self.call("""() => {
            const screen = Sao.Tab.tabs.get_current().screen;
            return screen.model.execute('view_toolbar_get', [],
                screen.context).then((toolbar) =>
                    [].concat(toolbar.relate || [], toolbar.action || [])
                    .map((action) => [action.id, action.name, action.type]));
        }""")
        for action_id, action_name, _ in entries:
            self.where = f"{name} › {action_name}"
            # The form shows its record again: a wizard that ended (an
            # export) reloads it, and under load that reload may start
            # after the browser looked idle. A person waits for it too.
            self.page.wait_for_function("""() => {
                const tab = Sao.Tab.tabs.get_current();
                return tab && tab.screen && tab.screen.current_record;
            }""", timeout=SETTLE_TIMEOUT)
            self.call("""(action_id) => {
                const tab = Sao.Tab.tabs.get_current();
                const screen = tab.screen;
                window.__walk_before = Sao.Tab.tabs.slice();
                const record = screen.current_record;
                const action = Sao.rpc({
                    'method': 'model.ir.action.get_action_value',
                    'params': [action_id, screen.context],
                }, Sao.Session.current_session, false);
                Sao.Action.execute(action, {
                    'model': screen.model_name, 'id': record.id,
                    'ids': [record.id]}, screen.context, true);
            }""", action_id)
            self.settle()
            front = self.front()
            if front['kind'] == 'window' and front['opened']:
                self.visit_window(front, self.where, relate=False)
            else:
                self.visit_front(self.where)


@pytest.mark.parametrize('user,password', [
        ('admin', 'owner-demo-2026'),
        ('bluebell', 'bluebell-demo-2026'),
        ])
def test_every_screen_opens(demo_server, demo_database, page, user,
        password):
    login(page, demo_server, user, password)
    # Only what the walk does counts (the log-in's refused probes do not).
    walk = Walk(page)
    menus = walk.menus_seen(suite_menus(demo_database))
    assert menus, "the user sees none of the suite's menus"
    for menu_id, name in menus:
        try:
            walk.walk_menu(menu_id, name)
        except Exception as error:
            # Recorded; start the next entry from a fresh page.
            walk.errors.append(f"{walk.where}: {error}".splitlines()[0])
            print(walk.errors[-1])
            seen = len(walk.errors)
            restart(page, demo_server, user, password)
            # What leaving the page made sao say is not the screen's.
            del walk.errors[seen:]
    print(f"\n{user}: {len(menus)} menu entries, {walk.windows} windows, "
        f"{walk.forms} forms, {walk.tabs} tabs and pages, "
        f"{walk.wizards} wizards opened")
    assert not walk.errors, '\n'.join(walk.errors)
