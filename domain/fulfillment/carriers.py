"""Carriers we know, and where their customers can follow a parcel."""

from __future__ import annotations

from urllib.parse import quote

TRACKING_URLS = {
    "COLISSIMO": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "CHRONOPOST": "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={number}",
    "DPD": "https://trace.dpd.fr/fr/trace/{number}",
    "GLS": "https://gls-group.com/FR/fr/suivi-colis?match={number}",
    "UPS": "https://www.ups.com/track?tracknum={number}",
    "DHL": "https://www.dhl.com/fr-fr/home/suivi.html?tracking-id={number}",
    "FEDEX": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "MONDIAL_RELAY": "https://www.mondialrelay.fr/suivi-de-colis?numeroExpedition={number}",
}


# How customers know them (emails name the carrier; codes are for systems).
NAMES = {
    "COLISSIMO": "Colissimo",
    "CHRONOPOST": "Chronopost",
    "DPD": "DPD",
    "GLS": "GLS",
    "UPS": "UPS",
    "DHL": "DHL",
    "FEDEX": "FedEx",
    "MONDIAL_RELAY": "Mondial Relay",
}


def display_name(carrier: str) -> str:
    """The carrier's name as a person reads it; a carrier we do not know, as given."""
    return NAMES.get(carrier, carrier)


def is_known(carrier: str) -> bool:
    return carrier in TRACKING_URLS


def tracking_url(carrier: str, number: str) -> str:
    return TRACKING_URLS[carrier].format(number=quote(number, safe=""))
