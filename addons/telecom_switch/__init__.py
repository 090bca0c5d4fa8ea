# Call control: switches and their API keys, concurrency limits, prepaid
# reservations, emergency numbers, the call-control HTTP API (api/) and the
# Asterisk bridge (bridge/). See README.md in this folder.
