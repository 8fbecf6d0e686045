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


# Real-format numbers written with hyphens (3 or more, as ISBNs are), valid in their numbering plans: none is
# an ISBN, so each must be replaced. Several were picked so that their digits pass the check that a broken
# ISBN test would apply (ISBN-10 weights on 9 or 11 digits, ISBN-13 weights on 11, 12 or 14 digits, other
# weights or moduli on 13 digits), so that such a check would leave them in the text.
HYPHENATED_PHONES = [
    "05-59-25-70-00", "943-01-87-00", "943-01-87-09", "+34-943-01-87-00", "+49-30-901820-12", "0049-30-901820-12",
    "0049-30-901820-00", "1-713-853-7408", "+1-713-853-7408", "+1-713-853-7440", "+1-713-853-7407",
    "+44-20-7946-0018", "+44-20-7946-0002", "713-853-7408", "713-853-7409", "+33-5-59-25-70-00",
    "0033-5-59-25-70-00", "0033-5-59-25-70-01", "0033-5-59-25-70-04", "0033-5-59-25-70-11", "+49-89-12345-678",
    "030-901820-12", "+49-30-901820-001", "+49-30-901820-002", "+49-30-901820-015", "+49-30-901820-030",
]
# Hyphenated ISBN-10s (valid check digits) that phonenumbers takes for French or German numbers.
ISBN10 = ["0-306-40615-2", "0-19-852663-6", "0-330-25864-8"]
REGIONS_DE = REGIONS + ("DE",)


@pytest.mark.parametrize("number", HYPHENATED_PHONES)
def test_hyphenated_phone_numbers_are_not_taken_for_isbns(number):
    text = f"Tel. {number}, goizez."
    assert scrub(text, regions=REGIONS_DE) == ("Tel. <PHONE>, goizez.", {"phone": 1})


@pytest.mark.parametrize("isbn", ISBN10)
def test_an_unlabelled_isbn_10_is_not_a_phone_number(isbn):
    assert find_phones(f"Liburua: {isbn}.", REGIONS_DE) == []
    digits = [int(c) for c in isbn if c.isdigit()]
    assert sum((10 - i) * d for i, d in enumerate(digits)) % 11 == 0  # the example is a real ISBN-10


@pytest.mark.parametrize("text", ["ISBN 0306406152 liburuan dago.", "Ikus ISBN-10: 0306406152.",
                                  "ISBN: 0 306 40615 2"])
def test_a_labelled_isbn_without_hyphens_is_not_a_phone_number(text):
    """Without hyphens only the label tells: phonenumbers takes 0306406152 for a French number."""
    assert scrub(text, regions=REGIONS) == (text, {})


def test_a_seven_digit_number_counts():
    """Estonian numbers have 7 digits: the pre-check lets a run of exactly 7 digits through."""
    regions = regions_for_languages(["et"])
    assert regions == ("EE",)
    assert scrub("Tallinn: 640 4000, tööpäeviti.", regions=regions) == ("Tallinn: <PHONE>, tööpäeviti.", {"phone": 1})


def test_short_digit_runs_before_a_number_do_not_stop_the_search():
    """A date (6 digits with separators: a candidate the pre-check drops) comes before the phone number."""
    text = "Bilera 14/11/23, deitu 688 12 34 56 zenbakira."
    assert scrub(text, regions=REGIONS) == ("Bilera 14/11/23, deitu <PHONE> zenbakira.", {"phone": 1})


def test_a_number_after_an_isbn_in_the_same_run_of_digits_is_found():
    """One candidate run holds an ISBN (skipped) and then a French number; French hints match both."""
    out, counts = scrub("Argitaletxea: 0-306-40615-2 / 05 59 25 70 00.", regions=REGIONS)
    assert counts == {"phone": 1} and "0-306-40615-2" in out and "05 59 25 70 00" not in out and "<PHONE>" in out


def test_several_numbers_in_one_text_are_replaced_one_by_one():
    """Each number is found by several regions (the same span more than once); each counts once."""
    text = "Bulegoa 943 01 87 00 / 943 01 87 01; Baiona +33 5 59 25 70 00."
    assert scrub(text, regions=REGIONS) == ("Bulegoa <PHONE> / <PHONE>; Baiona <PHONE>.", {"phone": 3})


def test_numbers_written_back_to_back_stay_two_numbers():
    """The second number's span starts where the first one's ends (at the bracket): touching is not overlapping."""
    text = "Tel. 943 01 87 00(688 12 34 56)."
    assert scrub(text, regions=REGIONS) == ("Tel. <PHONE><PHONE>).", {"phone": 2})


def test_a_number_found_whole_by_one_region_and_in_part_by_another_is_replaced_whole():
    """German hints find '030 901820 12' (Berlin, extension 12); Andorran ones (Catalan) find its 6-digit middle
    '901820' as well: the inner match must not shorten the outer one, after an earlier number too."""
    regions = regions_for_languages(["de", "ca"])
    assert {"DE", "AD"} <= set(regions)
    text = "Donostia: +34 943 01 87 00; Berlin (Zentrale): 030 901820 12."
    assert scrub(text, regions=regions) == ("Donostia: <PHONE>; Berlin (Zentrale): <PHONE>.", {"phone": 2})


def test_a_two_digit_extension_goes_with_the_number():
    text = "Call (713) 853-7408 x12 today."
    assert scrub(text, regions=REGIONS) == ("Call <PHONE> today.", {"phone": 1})
