# Carriers, their rate decks, routing policies and quality statistics;
# least-cost routing itself is in engine/ (no trytond import). See
# README.md in this folder.
