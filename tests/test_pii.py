"""PII detection shared by the corpus recipe, validation and the preference data: phone numbers through
phonenumbers (valid numbers of the hinted regions only), e-mails and IPs by pattern."""
from __future__ import annotations

import pytest

from hub_tools.text.pii import detect, find_phones, regions_for_languages, scrub

REGIONS = regions_for_languages(["eu"], ["US", "GB"])

# Real-format numbers (valid in their numbering plans) as people write them, one per country.
PHONES = [
    ("Deitu +34 943 01 87 00 zenbakira goizez.", "+34 943 01 87 00"),      # Spain, Gipuzkoa landline
    ("Mugikorra: 688 12 34 56, arratsaldez.", "688 12 34 56"),            # Spain, mobile, no prefix
    ("Bulegoa Baionan: 05 59 25 70 00.", "05 59 25 70 00"),              # France, national format
    ("Call Ken at (713) 853-7408 before noon.", "(713) 853-7408"),        # USA, the missed number
    ("Our London office: +44 20 7946 0018.", "+44 20 7946 0018"),         # UK, international format
    ("Berlin: +49 30 901820, Zentrale.", "+49 30 901820"),                # Germany, international format
    ("Tel. 0034 943 123 456 (Donostia).", "0034 943 123 456"),           # Spain, 00 prefix
]

# Digit strings that are not phone numbers and must stay as written.
NOT_PHONES = [
    "ISBN 978-0-306-40615-7 liburuan dago.",           # ISBN-13
    "Liburua: ISBN 0-306-40615-2.",                    # ISBN-10
    "Free Software Foundation, Boston, MA 02110-1301, USA.",  # ZIP+4
    "Kosovotik ihes egin zuten 150.000-200.000 serbiarrek.",  # number range
    "Gerra 1936-1939 urteetan izan zen.",              # year range
    "Bilera 2023-11-14 egunean, 14/11/2023.",          # dates
    "Txioa: https://twitter.com/x/status/1184329786425417729",  # tweet id
    "Eskaera zenbakia: 4468123456.",                    # a 10-digit id
    "Helbidea: 20012 Donostia; 48940 Leioa.",           # postal codes
    "IBAN ES91 2100 0418 4502 0005 1332.",             # bank account
    "Aurrekontua 1.234.567,89 eurokoa da.",            # amount
    "Orriak 211-227.",                                  # page range
]


@pytest.mark.parametrize("text, number", PHONES)
def test_real_phone_numbers_of_several_countries_are_replaced(text, number):
    out, counts = scrub(text, regions=REGIONS)
    assert number not in out and "<PHONE>" in out and counts == {"phone": 1}
    assert out == text.replace(number, "<PHONE>")


@pytest.mark.parametrize("text", NOT_PHONES)
def test_isbns_postal_codes_ranges_dates_and_ids_are_untouched(text):
    assert scrub(text, regions=REGIONS) == (text, {})


def test_region_hints_decide_which_national_formats_count():
    assert regions_for_languages(["eu"]) == ("ES", "FR")
    us = "Call Ken at (713) 853-7408 before noon."
    assert find_phones(us, ("ES", "FR")) == []           # not a valid Spanish or French number
    assert find_phones(us, ("ES", "FR", "US")) == [(12, 26)]
    assert find_phones("+1 713 853 7408", ("ES",)) == [(0, 15)]  # an international number needs no hint


def test_emails_and_ips_first_and_counts_per_kind():
    text = "Idatzi ane.etxeberria@adibidea.eus helbidera; zerbitzaria 192.168.10.45 da; tel. 688 12 34 56."
    out, counts = scrub(text, regions=REGIONS)
    assert out == "Idatzi <EMAIL> helbidera; zerbitzaria <IP> da; tel. <PHONE>."
    assert counts == {"email": 1, "ip": 1, "phone": 1}
    assert detect(text, ("phone",), REGIONS) == {"phone": 1}
    assert scrub(text, ("email",), REGIONS)[1] == {"email": 1}
