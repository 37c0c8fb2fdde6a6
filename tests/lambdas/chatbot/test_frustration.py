"""Frustration cues: what sentiment models miss in an upset customer (threats, insults, shouting, sarcastic
idioms), without reading ordinary questions about cancelling or refunds as anger."""

from __future__ import annotations

import pytest

from lambdas.chatbot.frustration import FrustrationCues
from lambdas.chatbot.sentiment import VaderDetector
from lambdas.common.text_normalization import normalize

CUES = FrustrationCues()


def cue(text: str) -> str | None:
    found = CUES.find(normalize(text))
    return found.cue if found else None


@pytest.mark.parametrize(("text", "expected"), [
    ("If the refund isn't on my card by Friday I'm filing a chargeback.", "en:legal"),
    ("WHERE IS MY MONEY?? You took it two weeks ago", "any:shouting"),
    ("your app is garbage. lost all my saved cards AGAIN", "any:shouting"),
    ("This is a scam and you know it.", "en:insult"),
    ("Fed up. Cancel the subscription and never email me again.", "en:leaving"),
    ("Oh great, the app lost my cart again. Fantastic work.", "en:sarcasm"),
    ("Das ist eine Frechheit, ich kündige.", "de:leaving"),
    ("C'est inadmissible, je vais porter plainte.", "fr:legal"),
    ("Estoy harta de esperar, es una vergüenza.", "es:leaving"),
    ("Isso é um absurdo, vou processar vocês.", "pt:legal"),
    ("Sono stufa, è una vergogna.", "it:leaving"),
])
def test_upset_customers_are_recognised_with_the_cue_named(text, expected):
    assert cue(text) == expected


@pytest.mark.parametrize("text", ["WHERE IS MY MONEY?? You took it two weeks ago",
                                  "If the refund isn't on my card by Friday I'm filing a chargeback."])
def test_vader_alone_misses_these_messages(text):
    """Why the cues exist: VADER does not read these furious messages as negative."""
    assert VaderDetector().detect(normalize(text)).sentiment.label != "negative"


@pytest.mark.parametrize("text", [
    "How do I cancel my subscription?",
    "Please cancel my order #4411, I ordered the wrong size.",
    "Is this email asking for my password a scam email?",
    "Does the CSV export include the VAT ID?",
    "My card was declined at checkout, what can I do?",
    "Thank you so much, that was really helpful!",
    "Wie kann ich meinen Vertrag kündigen?",
    "Comment résilier mon abonnement ?",
    "¿Cómo me doy de alta en el programa de puntos?",
    "Quando chega minha encomenda?",
    "Basta cliccare su 'Esporta'?",
])
def test_ordinary_messages_carry_no_cue(text):
    assert cue(text) is None


def test_the_excerpt_is_the_customers_words():
    found = CUES.find(normalize("Honestly, this is UNACCEPTABLE service"))
    assert found is not None and found.excerpt == "UNACCEPTABLE"


@pytest.mark.parametrize("text", ["Isso é inaceitavel", "Ihr seid unfahig", "C'est inadmissible, İstanbul ß"])
def test_cues_match_with_or_without_accents_and_cut_the_excerpt_from_the_customers_text(text):
    found = CUES.find(normalize(text))
    assert found is not None and found.excerpt in text
