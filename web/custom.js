/* The suite's changes to the back office (sao loads custom.js from its root;
   the Makefile and docker/Dockerfile link this file there). */
(function() {
    'use strict';

    // The top bar and the browser tab name the product, not the framework.
    Sao.config.title = 'Telecom Billing';

    // A menu entry activated again while it is still opening (a double
    // click activates it up to three times) opens it once: sao reuses an
    // open list's tab, but every activation of a wizard starts one more.
    var opening = {};
    var activate = Sao.main_menu_row_activate;
    Sao.main_menu_row_activate = function() {
        var screen = Sao.main_menu_screen;
        var id = screen && screen.get_id();
        if (!id) {
            return activate.apply(this, arguments);
        }
        var now = Date.now();
        // Clicks of one double click come within the system's double-click
        // interval (500 ms by default on every desktop).
        if (opening[id] && (now - opening[id]) < 1000) {
            return;
        }
        opening[id] = now;
        return activate.apply(this, arguments);
    };

    // A wizard's buttons are disabled while its step runs (a billing run
    // takes a while, with sao's "Processing" shown): a second click cannot
    // submit it again. A step that fails leaves the same view: its buttons
    // come back as their states say.
    var process = Sao.Wizard.prototype.process;
    Sao.Wizard.prototype.process = function(state) {
        var buttons = Object.values(this.states || {});
        buttons.forEach(function(button) {
            button.el.prop('disabled', true);
        });
        return process.call(this, state).always(() => {
            buttons.forEach(function(button) {
                button.el.prop('disabled', false);
            });
            if (this.screen && this.screen.current_record) {
                this.update_buttons();
            }
        });
    };
}());
