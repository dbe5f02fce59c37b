"""News forms: the spellings and abbreviations that should meet in one term.

schema.py's analysis calls news_form() on every folded word, before the stop
list and the stemmer, at index time and at query time alike, so that

* an abbreviation written with dots or an ampersand is one word without
  them: ``u.s`` -> ``us``, ``s&p`` -> ``sp``, ``j.p`` -> ``jp`` (the
  tokenizer keeps such runs of single letters together, and splits other
  dotted words, so a ticker ``<ALWS.O>`` is the words ``alws`` and ``o``);
  a decimal number keeps its point (``1.5``);
* British and American spellings meet: ``colour`` -> ``color``,
  ``programme`` -> ``program``, ``centre`` -> ``center``, ``travelled`` ->
  ``traveled``, and the other way for -ize/-yze (``recognized`` ->
  ``recognised``, ``organization`` -> ``organisation``), because Porter
  strips -ize but not -ise: ``organize`` would stem to ``organ`` and
  ``optimize`` to ``optim``, beside ``optimal`` (NPL, British, asks
  "OPTIMISING LINEAR NETWORKS": mapped to -ize it lost 0.45 nDCG@10 on
  optimal-this and optimal-that).  A listed mapping of word stems and the
  endings they take, never a rule applied to unlisted words (``-ise`` alone
  would turn ``precise`` and ``advertise`` into nonsense), so
  ``exercise``, ``size`` and ``rise`` stay as they are;
* the newswire's abbreviations and ordinals mean their words: ``mln`` ->
  ``million``, ``bln`` -> ``billion``, ``dlrs`` -> ``dollars``, ``pct`` ->
  ``percent``, ``qtr`` -> ``quarter``, ``shr`` -> ``share``, ``cts`` ->
  ``cents``, ``yr`` -> ``year``, ``1st`` ... ``12th`` -> ``first`` ...
  ``twelfth`` (Reuters-21578 writes "4TH QTR NET 1.5 MLN DLRS").

Pure Python, no Whoosh; the mapping is built once at import (about 1,000
word forms).  Changing it changes the index: bump schema.SCHEMA_VERSION.
"""

from __future__ import annotations

__all__ = ["NEWS_FORMS", "news_form"]


def _forms() -> dict[str, str]:
    forms: dict[str, str] = {}

    def add(stems: str, endings: dict[str, str], to_british: bool = False) -> None:
        for stem in stems.split():
            for british, american in endings.items():
                if to_british:
                    forms[stem + american] = stem + british
                else:
                    forms[stem + british] = stem + american

    # colour, honoured, favourite, labourer, neighbourhood ...
    endings = "# #s #ed #ing #ful #fully #less #able #ably #ite #ites #er #ers #ist #ists #hood #hoods"
    add(
        "arb arm behavi cand clam col endeav fav flav harb hon hum lab neighb od parl rig "
        "rum sav splend tum val vap vig",
        {ending.replace("#", "our"): ending.replace("#", "or") for ending in endings.split()},
    )
    # recognise, organisation, privatised, prioritising ...
    add(
        "apolog author capital categor central character civil critic decentral democrat digit emphas final "
        "general global harmon ideal industrial jeopard legal liberal local magnet maxim memor minim mobil "
        "modern monopol national neutral normal optim organ patron penal polar popular priorit privat public "
        "real recogn scrutin special stabil standard subsid summar symbol sympath synchron util visual western",
        {
            "ise": "ize",
            "ises": "izes",
            "ised": "ized",
            "ising": "izing",
            "iser": "izer",
            "isers": "izers",
            "isation": "ization",
            "isations": "izations",
            "isable": "izable",
        },
        to_british=True,
    )
    # analyse, paralysed
    add("anal paral catal", {"yse": "yze", "yses": "yzes", "ysed": "yzed", "ysing": "yzing"}, to_british=True)
    # centre, theatres, kilometre, centred
    add(
        "cent theat met lit fib kilomet centimet millimet spect somb calib lust",
        {"re": "er", "res": "ers", "red": "ered"},
    )
    # travelled, cancelling, modeller
    add(
        "cancel counsel dial equal fuel label level marshal model signal travel tunnel jewel",
        {"led": "ed", "ling": "ing", "ler": "er", "lers": "ers"},
    )
    forms.update(
        {
            "programme": "program",
            "programmes": "programs",
            "defence": "defense",
            "offence": "offense",
            "offences": "offenses",
            "licence": "license",
            "licences": "licenses",
            "pretence": "pretense",
            "grey": "gray",
            "tyre": "tire",
            "tyres": "tires",
            "aluminium": "aluminum",
            "catalogue": "catalog",
            "catalogues": "catalogs",
            "ageing": "aging",
            "mould": "mold",
            "plough": "plow",
            "sceptical": "skeptical",
            "manoeuvre": "maneuver",
            "manoeuvres": "maneuvers",
            "paediatric": "pediatric",
            "anaemia": "anemia",
            "haemorrhage": "hemorrhage",
            "oestrogen": "estrogen",
            "foetus": "fetus",
            "jewellery": "jewelry",
        }
    )
    # The wire's abbreviations, and ordinals in figures.
    forms.update(
        {
            "mln": "million",
            "mlns": "millions",
            "bln": "billion",
            "blns": "billions",
            "dlr": "dollar",
            "dlrs": "dollars",
            "pct": "percent",
            "qtr": "quarter",
            "qtrs": "quarters",
            "shr": "share",
            "shrs": "shares",
            "cts": "cents",
            "yr": "year",
            "yrs": "years",
        }
    )
    ordinals = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
    for number, word in enumerate(ordinals, start=1):
        suffix = "th" if 4 <= number <= 20 else {1: "st", 2: "nd", 3: "rd"}[number]
        forms[f"{number}{suffix}"] = word
    return forms


NEWS_FORMS: dict[str, str] = _forms()


def news_form(word: str) -> str:
    """The form `word` (lower case, accents folded) is indexed and searched as."""
    found = NEWS_FORMS.get(word)
    if found is not None:
        return found
    if ("." in word or "&" in word) and not word[:1].isdigit():
        return word.replace(".", "").replace("&", "")
    return word
