"""Carrier decks in and out of the database: CSV and XLSX files (F18).

The same importer as customer decks (``telecom_rating.deck``): same
columns, same validation by the rating engine's reader, same
all-or-nothing rule and list of problems, same bulk write. A carrier has
one deck per service, so an import replaces or adds to the carrier's rates
of one service.
"""
from trytond.model import ModelView, fields
from trytond.pool import PoolMeta
from trytond.wizard import Button, StateTransition, StateView, Wizard

from trytond.modules.telecom_rating.deck import (
    FORMATS, DeckOwnerMixin, ExportDeckMixin, ImportDeckMixin, RateTable,
    count_rates, deck_filename, export_deck, import_deck,
    replace_confirmation)
from trytond.modules.telecom_rating.plan import SERVICES


def carrier_rates(carrier, service):
    "The rates of ``carrier`` for ``service`` as the importer's table"
    return RateTable(
        'telecom.carrier.rate', {'carrier': carrier.id, 'service': service},
        'carrier')


class Carrier(DeckOwnerMixin, metaclass=PoolMeta):
    __name__ = 'telecom.carrier'

    @classmethod
    @ModelView.button_action('telecom_lcr.wizard_carrier_import_rates')
    def import_rates_button(cls, carriers):
        pass

    @classmethod
    @ModelView.button_action('telecom_lcr.wizard_carrier_export_rates')
    def export_rates_button(cls, carriers):
        pass

    def import_rates(self, data, filename, service='voice', replace=False,
            progress=None):
        """Apply the deck ``data`` (bytes of a CSV or XLSX file named
        ``filename``) to the carrier's rates of ``service``; return
        (imported, removed).

        ``replace``: those rates become the deck's; otherwise the deck's
        are added. A deck with any problem raises RateImportError listing
        them all, and nothing is applied. Prices are in the carrier's
        currency. ``progress(done, total)`` is called as rates are written.
        """
        self._check_deck_access('telecom.carrier.rate', replace)
        return import_deck(carrier_rates(self, service), self.company, data,
            filename, replace=replace, progress=progress)

    def rate_count(self, service='voice'):
        """The number of the carrier's rates of ``service``, which a replace
        removes"""
        self._check_deck_access('telecom.carrier.rate')
        return count_rates(carrier_rates(self, service))

    def export_rates(self, format='csv', service='voice'):
        """Return the carrier's rates of ``service`` as a deck file (bytes)
        of ``format``"""
        self._check_deck_access('telecom.carrier.rate')
        return export_deck(carrier_rates(self, service), format)


class ImportRatesStart(ModelView):
    "Import Carrier Rates"
    __name__ = 'telecom.carrier.import_rates.start'
    file = fields.Binary(
        "File", filename='filename', required=True,
        help="A CSV (UTF-8) or XLSX deck with the columns prefix, "
        "destination, rate, connect_fee, min_duration, increment_first, "
        "increment_next, valid_from, valid_to, priority, time_band; prices "
        "in the carrier's currency.")
    filename = fields.Char("File Name")
    service = fields.Selection(SERVICES, "Service", required=True)
    mode = fields.Selection([
            ('add', "Add to the service's rates"),
            ('replace', "Replace the service's rates"),
            ], "Mode", required=True,
        help="Add: the file's rates are added; a rate the carrier already "
        "has rejects the file. Replace: the carrier's rates of the service "
        "become those of the file, after a confirmation showing how many "
        "rates it removes.")

    @classmethod
    def default_service(cls):
        return 'voice'

    @classmethod
    def default_mode(cls):
        # As the plan's: adding never loses a rate.
        return 'add'


class ImportRates(ImportDeckMixin, Wizard):
    "Import Carrier Rates"
    __name__ = 'telecom.carrier.import_rates'
    start = StateView(
        'telecom.carrier.import_rates.start',
        'telecom_lcr.carrier_import_rates_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'check', 'tryton-ok', default=True),
            ])
    check = StateTransition()
    confirm = replace_confirmation()
    import_ = StateTransition()
    done = StateView(
        'telecom.rate.plan.import_rates.done',
        'telecom_rating.rate_plan_import_rates_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def _import_options(self):
        return {'service': self.start.service}


class ExportRatesStart(ModelView):
    "Export Carrier Rates"
    __name__ = 'telecom.carrier.export_rates.start'
    format = fields.Selection(FORMATS, "Format", required=True)
    service = fields.Selection(SERVICES, "Service", required=True)

    @classmethod
    def default_format(cls):
        return 'csv'

    @classmethod
    def default_service(cls):
        return 'voice'


class ExportRates(ExportDeckMixin, Wizard):
    "Export Carrier Rates"
    __name__ = 'telecom.carrier.export_rates'
    start = StateView(
        'telecom.carrier.export_rates.start',
        'telecom_lcr.carrier_export_rates_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-ok', default=True),
            ])
    export = StateTransition()
    result = StateView(
        'telecom.rate.plan.export_rates.result',
        'telecom_rating.rate_plan_export_rates_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def _export(self, format_):
        service = self.start.service
        return (self.record.export_rates(format_, service),
            deck_filename(
                f'{self.record.code}-{service}', self.record.id, format_))
