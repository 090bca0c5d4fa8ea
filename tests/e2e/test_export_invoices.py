"""`telecom export-invoices` on a fresh `make demo` database (issue 18):
the demo already holds posted documents of every kind, and each one it
writes passes the OASIS UBL 2.1 schema and the EN 16931 / Peppol BIS
Billing 3.0 rules (addons/telecom_billing/tests/ubl_rules.py); the PDFs'
amounts are the XML's."""
import io
import os
import subprocess
from decimal import Decimal

from pypdf import PdfReader

from trytond.modules.telecom_billing.tests.ubl_rules import (
    Document, failures)

from .conftest import BIN, ROOT, copy_demo, sqlite_env

CONFIG = os.path.join(ROOT, 'etc', 'trytond.conf')


def export(db_path, out, format_):
    result = subprocess.run([os.path.join(BIN, 'telecom'), 'export-invoices',
            '-c', CONFIG, '-d', 'demo', '--format', format_, '-o', str(out)],
        env=sqlite_env(db_path), cwd=ROOT, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_export_demo_documents(tmp_path, demo_database):
    db_path = tmp_path / 'db'
    db_path.mkdir()
    copy_demo(demo_database, db_path)
    summary = export(db_path, tmp_path / 'ubl', 'ubl')
    files = sorted((tmp_path / 'ubl').iterdir())
    assert summary.startswith(f"exported {len(files)} documents")

    documents = {}
    for path in files:
        xml = path.read_bytes()
        assert failures(xml) == [], path.name
        documents[path.stem] = Document(xml)
    seen = set()
    for name, doc in documents.items():
        seller = doc.text('cac:AccountingSupplierParty/cac:Party/'
            'cac:PartyLegalEntity/cbc:RegistrationName')
        buyer = doc.text('cac:AccountingCustomerParty/cac:Party/'
            'cac:PartyLegalEntity/cbc:RegistrationName')
        categories = {e.text for e in doc.xpath(
                'cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID')}
        payable = doc.amount('cac:LegalMonetaryTotal/cbc:PayableAmount')
        if doc.name == 'CreditNote':
            assert doc.text('cac:BillingReference/'
                'cac:InvoiceDocumentReference/cbc:ID')
            seen.add('credit note')
        elif buyer == "Acme Offices":
            # Calls and the hosted PBX seats (3 × 8.50), VAT 20 %.
            lines = {e.text for e in doc.xpath(
                    'cac:InvoiceLine/cac:Item/cbc:Name')}
            assert lines == {"Calls", "Hosted PBX seat"}
            assert categories == {'S'}
            seen.add('pbx')
        elif buyer == "Globex Wholesale":
            # USD, prepaid, outside the scope of VAT: paid, 0.00 due.
            assert doc.text('cbc:DocumentCurrencyCode') == 'USD'
            assert doc.text('cbc:TaxCurrencyCode') == 'EUR'
            assert categories == {'O'}
            assert payable == 0
            seen.update(['usd', 'export', 'prepaid'])
        if seller == "Bluebell Telecom":
            assert categories == {'S'}
            seen.add('reseller')
    assert seen == {'credit note', 'pbx', 'usd', 'export', 'prepaid',
        'reseller'}

    # The PDFs say what the XML says: each document's amount due.
    export(db_path, tmp_path / 'pdf', 'pdf')
    for name, doc in documents.items():
        pdf = (tmp_path / 'pdf' / f'{name}.pdf').read_bytes()
        text = '\n'.join(p.extract_text()
            for p in PdfReader(io.BytesIO(pdf)).pages)
        total = doc.amount('cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount')
        assert f'{total:.2f}' in text, name
        assert total == doc.amount(
            'cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount') + doc.amount(
            'cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount')
        assert total >= Decimal(0)
