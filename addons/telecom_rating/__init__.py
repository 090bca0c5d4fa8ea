# Destinations, rate plans, rates, time bands, bundles, CDRs and their
# rating at every tenant level. The pricing itself is in engine/ (no
# trytond import); see README.md in this folder.
