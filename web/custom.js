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

    // A wizard's buttons are disabled while a step runs (a billing run
    // takes a while, with sao's "Processing" shown): a second click cannot
    // submit it again. That includes the buttons of the next step, drawn
    // while sao still sets its form up: sao drops a click that comes
    // before it is done (its __processing flag), and a quick user saw
    // "Replace" do nothing. A step that fails leaves the same view: its
    // buttons come back as their states say.
    function disable_while_processing(wizard) {
        if (wizard.__processing) {
            Object.values(wizard.states || {}).forEach(function(button) {
                button.el.prop('disabled', true);
            });
        }
    }
    var process = Sao.Wizard.prototype.process;
    Sao.Wizard.prototype.process = function(state) {
        var result = process.call(this, state);
        disable_while_processing(this);
        return result.always(() => {
            // A click while processing returns at once: leave the
            // buttons to the step that runs.
            if (this.__processing) {
                return;
            }
            Object.values(this.states || {}).forEach(function(button) {
                button.el.prop('disabled', false);
            });
            if (this.screen && this.screen.current_record) {
                this.update_buttons();
            }
        });
    };
    var get_button = Sao.Wizard.prototype._get_button;
    Sao.Wizard.prototype._get_button = function(definition) {
        var button = get_button.call(this, definition);
        if (this.__processing) {
            button.el.prop('disabled', true);
        }
        return button;
    };
    var update_buttons = Sao.Wizard.prototype.update_buttons;
    Sao.Wizard.prototype.update_buttons = function() {
        update_buttons.apply(this, arguments);
        disable_while_processing(this);
    };
}());
