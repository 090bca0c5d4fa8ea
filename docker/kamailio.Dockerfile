# The SIP proxy: Debian 12's Kamailio 5.6 with the modules kamailio.cfg
# loads, and the configuration the end-to-end tests run.
# Built from the repository root: docker build -f docker/kamailio.Dockerfile .
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends kamailio \
        kamailio-json-modules kamailio-extra-modules kamailio-utils-modules \
        kamailio-sqlite-modules \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /run/kamailio /var/lib/kamailio
COPY switch/kamailio/kamailio.cfg /etc/kamailio/kamailio.cfg
# The spool of ends and CDRs the API has not taken yet: it must outlive
# the container.
VOLUME /var/lib/kamailio

EXPOSE 5060/udp
ENTRYPOINT ["kamailio", "-DD", "-E", "-f", "/etc/kamailio/kamailio.cfg"]
