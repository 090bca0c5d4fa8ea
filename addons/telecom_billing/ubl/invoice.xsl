<?xml version="1.0" encoding="UTF-8"?>
<!-- Renders a UBL 2.x Invoice or CreditNote to HTML in a browser (F30):
     the XML invoices carry <?xml-stylesheet href="invoice.xsl"?>. XSLT 1.0,
     the version browsers run. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:inv="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    xmlns:cn="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    exclude-result-prefixes="inv cn cac cbc">
  <xsl:output method="html" encoding="UTF-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:template match="/inv:Invoice | /cn:CreditNote">
    <xsl:variable name="title">
      <xsl:choose>
        <xsl:when test="self::cn:CreditNote">Credit Note</xsl:when>
        <xsl:otherwise>Invoice</xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <html>
      <head>
        <meta charset="utf-8"/>
        <title><xsl:value-of select="concat($title, ' ', cbc:ID)"/></title>
        <style>
          body { font-family: sans-serif; font-size: 14px; color: #222;
            max-width: 60em; margin: 2em auto; }
          h1 { color: #1f3a5f; }
          .parties { display: flex; gap: 4em; margin: 1.5em 0; }
          table { border-collapse: collapse; width: 100%; }
          th { background: #1f3a5f; color: white; text-align: left;
            padding: 4px 8px; }
          td { border-bottom: 1px solid #ddd; padding: 4px 8px; }
          .num { text-align: right; white-space: nowrap; }
          .totals { width: 40%; margin-left: 60%; margin-top: 1em; }
          .totals td { border: none; }
          .payable td { font-weight: bold; border-top: 2px solid #1f3a5f; }
        </style>
      </head>
      <body>
        <h1><xsl:value-of select="concat($title, ' ', cbc:ID)"/></h1>
        <p>
          Date: <span class="issue-date"><xsl:value-of select="cbc:IssueDate"/></span>
          <xsl:if test="cbc:DueDate | cac:PaymentMeans/cbc:PaymentDueDate">
            · Due: <xsl:value-of select="(cbc:DueDate | cac:PaymentMeans/cbc:PaymentDueDate)[1]"/>
          </xsl:if>
          · Currency: <xsl:value-of select="cbc:DocumentCurrencyCode"/>
        </p>
        <div class="parties">
          <div class="supplier">
            <strong>From</strong><br/>
            <xsl:apply-templates select="cac:AccountingSupplierParty/cac:Party"/>
          </div>
          <div class="customer">
            <strong>To</strong><br/>
            <xsl:apply-templates select="cac:AccountingCustomerParty/cac:Party"/>
          </div>
        </div>
        <table class="lines">
          <tr>
            <th>#</th><th>Description</th><th class="num">Quantity</th>
            <th class="num">Unit price</th><th class="num">Amount</th>
          </tr>
          <xsl:for-each select="cac:InvoiceLine | cac:CreditNoteLine">
            <tr>
              <td><xsl:value-of select="cbc:ID"/></td>
              <td>
                <xsl:value-of select="(cac:Item/cbc:Description | cac:Item/cbc:Name)[1]"/>
              </td>
              <td class="num">
                <xsl:value-of select="cbc:InvoicedQuantity | cbc:CreditedQuantity"/>
              </td>
              <td class="num">
                <xsl:apply-templates select="cac:Price/cbc:PriceAmount"/>
              </td>
              <td class="num">
                <xsl:apply-templates select="cbc:LineExtensionAmount"/>
              </td>
            </tr>
          </xsl:for-each>
        </table>
        <table class="totals">
          <xsl:for-each select="cac:TaxTotal/cac:TaxSubtotal">
            <tr class="tax">
              <td>
                Tax <xsl:value-of select="cac:TaxCategory/cbc:Percent"/>
                <xsl:if test="cac:TaxCategory/cbc:Percent">%</xsl:if>
                on <xsl:apply-templates select="cbc:TaxableAmount"/>
              </td>
              <td class="num"><xsl:apply-templates select="cbc:TaxAmount"/></td>
            </tr>
          </xsl:for-each>
          <xsl:for-each select="cac:LegalMonetaryTotal">
            <tr class="untaxed">
              <td>Total excluding taxes</td>
              <td class="num"><xsl:apply-templates select="cbc:TaxExclusiveAmount"/></td>
            </tr>
            <tr class="taxed">
              <td>Total including taxes</td>
              <td class="num"><xsl:apply-templates select="cbc:TaxInclusiveAmount"/></td>
            </tr>
            <tr class="payable">
              <td>Amount due</td>
              <td class="num"><xsl:apply-templates select="cbc:PayableAmount"/></td>
            </tr>
          </xsl:for-each>
        </table>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="cac:Party">
    <xsl:value-of select="(cac:PartyName/cbc:Name | cac:PartyLegalEntity/cbc:RegistrationName)[1]"/><br/>
    <xsl:for-each select="cac:PostalAddress">
      <xsl:value-of select="cbc:StreetName"/><br/>
      <xsl:value-of select="normalize-space(concat(cbc:PostalZone, ' ', cbc:CityName))"/><br/>
      <xsl:value-of select="cac:Country/cbc:IdentificationCode"/>
    </xsl:for-each>
    <xsl:for-each select="cac:PartyTaxScheme/cbc:CompanyID">
      <br/>VAT <xsl:value-of select="."/>
    </xsl:for-each>
  </xsl:template>

  <!-- An amount with its currency, e.g. "0.95 EUR". -->
  <xsl:template match="cbc:*[@currencyID]">
    <xsl:value-of select="concat(., ' ', @currencyID)"/>
  </xsl:template>
</xsl:stylesheet>
