"""Human requests recognised as requests, not words: in six languages, through obfuscation, never in a
technical use of a trigger word or a negated request."""

from __future__ import annotations

import pytest

from lambdas.chatbot.human_request import LANGUAGES, HumanRequestMatcher
from lambdas.common.text_normalization import normalize

MATCHER = HumanRequestMatcher()


def finds(text: str) -> bool:
    return MATCHER.find(normalize(text)) is not None


@pytest.mark.parametrize("text", [
    "can I talk to a person?",
    "I want an agent",
    "agent",
    "AGENT AGENT AGENT",
    "Get me a Human, please",
    "please transfer me to your billing team",
    "Could someone from the claims department call me back?",
    "I'd rather sort this out with one of your colleagues than with a bot.",
    "escalate to tier 2 please",
    "is there anyone I can call?",
    "put me through to your complaints manager",
    "I want a callback",
])
def test_english_requests(text):
    assert finds(text)


@pytest.mark.parametrize("text", [
    "Ich möchte mit einem Mitarbeiter sprechen.",
    "Können Sie mich bitte mit einem Menschen verbinden?",
    "Je voudrais parler à un conseiller.",
    "Pouvez-vous me rappeler cet après-midi ?",
    "Quiero hablar con una persona, por favor.",
    "¿Me pueden llamar? Es urgente.",
    "Quero falar com um atendente.",
    "Alguém pode me ligar?",
    "Vorrei parlare con un operatore.",
    "Mi può richiamare qualcuno?",
])
def test_requests_in_the_other_languages(text):
    assert finds(text)


@pytest.mark.parametrize("text", [
    "Ｉ ｗａｎｔ ａ ｈｕｍａｎ",                    # full-width letters
    "I want a hu\u200bman",                       # a zero-width space inside the word
    "talk to an a\u00adgent",                     # a soft hyphen
    "can I speak with a húman?",                  # an accent added
    "g e t   m e   a   s u p e r v i s o r",      # spelled out
    "c a l l   m e   b a c k",
    "TALK\tTO\nA   PERSON",                        # odd whitespace and case
])
def test_obfuscated_requests(text):
    assert finds(text)


@pytest.mark.parametrize("text", [
    "How do I change the user agent string?",
    "Is the SSH agent forwarded to the build host?",
    "Our Kubernetes operator crashes on start.",
    "Can I export the report in human-readable form?",
    "Is this a representative sample of the data?",
    "The 'person' field in the API response is null.",
    "Which manager role can approve invoices?",
    "Wie ändere ich den User-Agent im Browser?",
    "Le champ 'agent' de l'API est vide.",
    "El operador de red no aparece en el móvil.",
    "A pessoa jurídica pode abrir conta?",
    "L'operatore logico AND non funziona nella ricerca.",
])
def test_technical_uses_of_trigger_words_are_not_requests(text):
    assert not finds(text)


@pytest.mark.parametrize("text", [
    "I don't want to talk to a person, just tell me the price.",
    "No need for an agent, I found it.",
    "without talking to a representative, can I change my plan?",
    "Ich brauche keinen Mitarbeiter, nur die IBAN.",
    "Je ne veux pas parler à un conseiller.",
    "No quiero hablar con un agente.",
    "Não quero falar com atendente.",
    "Non voglio parlare con un operatore.",
])
def test_negated_requests_are_not_requests(text):
    assert not finds(text)


@pytest.mark.parametrize("text", [
    "I don't know what else to try, get me a human",
    "O robô não serve porém quero falar com um humano",   # a contrast word (written with its accent) ends the clause
])
def test_a_negation_in_another_clause_does_not_cancel_a_request(text):
    assert finds(text)


def test_the_match_names_its_pattern_and_the_words_it_read_in_the_customers_text():
    found = MATCHER.find(normalize("Hello. I want a hu\u200bman now"))
    assert found is not None
    assert (found.pattern, found.excerpt) == ("en:want", "I want a human")


def test_languages_are_configurable():
    english_only = HumanRequestMatcher(languages=("en",))
    assert english_only.find("Je voudrais parler à un conseiller.") is None
    assert english_only.find("I want an agent") is not None
    with pytest.raises(ValueError, match="xx"):
        HumanRequestMatcher(languages=("en", "xx"))


def test_extra_patterns_are_added_and_named():
    custom = HumanRequestMatcher(languages=(), extra_patterns=(r"\bpaging\s+dr\.?\s+who\b",))
    found = custom.find("Paging Dr. Who!")
    assert found is not None and found.pattern == "custom:0"
    assert custom.find("I want an agent") is None  # no built-in language


@pytest.mark.parametrize("code", LANGUAGES)
def test_no_language_matches_an_empty_or_blank_message(code):
    assert HumanRequestMatcher(languages=(code,)).find("") is None
    assert HumanRequestMatcher(languages=(code,)).find("?!") is None
