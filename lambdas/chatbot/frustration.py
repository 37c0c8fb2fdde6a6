"""Signs of an upset customer that sentiment models read badly: threats to leave or to go to a lawyer,
insults, shouting, and the common sarcastic idioms. VADER scores "WHERE IS MY MONEY??" and "I'm filing a
chargeback" as neutral and reads no language but English; these cues are a policy rule beside the
detector, in the six languages of the human-request patterns.

The cues are explicit phrases, so every decision names the one that fired ("en:legal"). They are
deliberately narrow: "how do I cancel my subscription?" is a question, "I'm cancelling everything" is
not. Shouting is read on the normalised text with its case; everything else case-folded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from lambdas.chatbot.human_request import LANGUAGES
from lambdas.common.text_normalization import strip_accents


@dataclass(frozen=True)
class FrustrationCue:
    cue: str  # language:kind, e.g. "en:legal"
    excerpt: str


def _unaccented(text: str) -> str:
    """Lower case without accents, one character for each of the text's (so an excerpt can be cut from the
    customer's text at the positions found here)."""
    return "".join(strip_accents(ch.lower())[:1] or ch for ch in text)


def _cues(**kinds: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    # Written with accents for the reader; matched without, so "inaceitavel" counts like "inaceitável".
    return tuple((kind, re.compile(_unaccented(pattern))) for kind, pattern in kinds.items())


_CUES: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "en": _cues(
        emotion=r"\b(?:furious|livid|outraged|fuming|pissed\s+off|beyond\s+angry|so\s+angry|really\s+angry|"
                r"tired\s+of\s+(?:chasing|waiting|calling|asking|being)|sick\s+(?:and\s+tired\s+)?of)\b",
        money=r"\b(?:(?:give|want)\s+(?:me\s+)?my\s+money\s+back|robbery|daylight\s+robbery|stealing\s+(?:my|from)|"
              r"theft)\b",
        public=r"\b(?:(?:1|one)[\s-]star\s+reviews?|bad\s+review|trustpilot|(?:post|posting|tweet)\s+about\s+(?:this|you)|"
               r"social\s+media)\b",
        legal=r"\b(?:my\s+lawyer|an?\s+attorney|legal\s+action|sue\s+you|suing\s+you|small\s+claims|take\s+you\s+to\s+court|"
              r"chargeback|consumer\s+protection|ombudsman|trading\s+standards|better\s+business\s+bureau|report(?:ing)?\s+you|"
              r"report(?:ing)?\s+(?:this|it)\s+to\s+the\s+\w+|the\s+regulator)\b",
        leaving=r"\b(?:i'?m\s+done|i\s+am\s+done|fed\s+up|had\s+enough|last\s+straw|never\s+again|never\s+email\s+me|"
                r"(?:won'?t|will\s+not|wouldn'?t)\s+be\s+recommending|i'?ll\s+cancel|i\s+will\s+cancel|i'?m\s+cancell?ing|"
                r"cancel(?:l?ing)?\s+everything|take\s+my\s+business\s+elsewhere|switching\s+providers|"
                r"deleting\s+(?:it|the\s+app|this\s+app|my\s+account))\b",
        insult=r"\b(?:garbage|trash|rubbish|useless|rip[\s-]?off|incompeten(?:t|ce)|disgrace(?:ful)?|pathetic|"
               r"a\s+joke|ridiculous|unacceptable|outrageous|appalling|shameful|disgusting|unbelievable|"
               r"worst\s+(?:\w+\s+)?(?:ever|experience|service|company|app|support)|wtf|what\s+the\s+(?:hell|f\w*)|"
               r"bullshit|crap|damn\s+it|idiots|morons|clowns|amateurs|scam(?:mers)?(?!\s*(?:e-?mails?|calls?|texts?|sms|messages?|links?|sites?)))\b",
        sarcasm=r"(?:/s\b|\bthanks\s+for\s+nothing\b|\boh\s+(?:great|wonderful|perfect|fantastic|brilliant|lovely|joy)\b|"
                r"\bjust\s+what\s+i\s+needed\b|\byeah\s+right\b|\blove\s+how\b|\bwow,?\s+only\b|\bsure,?\s+keep\b|"
                r"\b(?:great|nice|well\s+done|good)\s+job\s+(?:losing|breaking|ignoring|charging|cancell?ing)\b|"
                r"\btruly\s+world[\s-]class\b|\bamazing\s+how\b|\bnothing\s+says\b|\bsure,?\s+i'?ll\s+just\b|"
                r"\bit'?s\s+not\s+like\s+i\b)",
    ),
    "de": _cues(
        emotion=r"\b(?:wütend|stinksauer|sauer|verärgert|empört|ganz\s+großes\s+kino|na\s+super|na\s+toll|"
                r"ich\s+will\s+mein\s+geld\s+zurück|diebstahl|idioten)\b",
        legal=r"\b(?:anwalt|anwältin|klage|verklagen|gericht|verbraucherzentrale|rückbuchung|chargeback)\b",
        leaving=r"\b(?:ich\s+kündige|kündige\s+ich|mir\s+reicht(?:'s|\s+es)|es\s+reicht|nie\s+wieder|"
                r"nie\s+mehr\s+bei\s+ihnen)\b",
        insult=r"\b(?:frechheit|unverschämt(?:heit)?|skandal(?:ös)?|katastrophe|katastrophal|lächerlich|inkompetent|"
               r"betrug|betrüger|abzocke|saftladen|schlechteste[nr]?|unzumutbar|verarsch\w*|zumutung|unfähig)\b",
    ),
    "fr": _cues(
        emotion=r"\b(?:furieux|furieuse|en\s+colère|énervée?|excédée?|outrée?|rendez[-\s]moi\s+mon\s+argent|"
                r"c'est\s+du\s+vol|du\s+vol\b|idiots|bravo,)\b",
        legal=r"\b(?:avocat|porter\s+plainte|déposer\s+(?:une\s+)?plainte|tribunal|médiateur|ufc|que\s+choisir|"
              r"rétrofacturation)\b",
        leaving=r"\b(?:je\s+résilie|j'en\s+ai\s+marre|ras[\s-]le[\s-]bol|plus\s+jamais|jamais\s+plus|"
                r"je\s+vais\s+résilier|c'est\s+fini\s+avec\s+vous)\b",
        insult=r"\b(?:inadmissible|inacceptable|scandal(?:eux|euse|e)|honteux|honteuse|lamentable|arnaque|escroc\w*|"
               r"incompétent\w*|pire\s+(?:service|expérience|entreprise)|n'importe\s+quoi|c'est\s+une\s+blague|"
               r"foutez|foutre|bordel|merde)\b",
    ),
    "es": _cues(
        emotion=r"\b(?:furios[oa]|enfadad[oa]|cabread[oa]|indignad[oa]|molest[oa]\s+de\s+verdad|"
                r"devuélvanme\s+mi\s+dinero|(?:es|esto\s+es)\s+un\s+robo|idiotas|genial,\s+otra\s+vez)\b",
        legal=r"\b(?:abogad[oa]|demandar\w*|poner\s+una\s+demanda|denuncia\w*|tribunal|hoja\s+de\s+reclamaciones|"
              r"oficina\s+del\s+consumidor|contracargo)\b",
        leaving=r"\b(?:me\s+doy\s+de\s+baja|cancelo\s+todo|estoy\s+hart[oa]|hasta\s+las\s+narices|basta\s+ya|"
                r"nunca\s+más)\b",
        insult=r"\b(?:inaceptable|vergüenza|vergonzoso|indignante|lamentable|estafa\w*|timo|incompetentes?|"
               r"(?:el\s+)?peor\s+(?:servicio|atención|empresa|experiencia)|una\s+broma|tomando\s+el\s+pelo|"
               r"mierda|joder)\b",
    ),
    "pt": _cues(
        emotion=r"\b(?:furios[oa]|irritad[oa]|revoltad[oa]|indignad[oa]|quero\s+(?:o\s+)?meu\s+dinheiro\s+de\s+volta|"
                r"(?:é|isso\s+é)\s+um\s+roubo|idiotas|parabéns,\s+conseguiram)\b",
        legal=r"\b(?:advogad[oa]|vou\s+processar|processar\s+vocês|procon|reclame\s+aqui|entrar\s+na\s+justiça|"
              r"chargeback|estorno\s+no\s+cartão)\b",
        leaving=r"\b(?:vou\s+cancelar\s+tudo|cancelo\s+tudo|estou\s+fart[oa]|cansei|chega\s+de|nunca\s+mais)\b",
        insult=r"\b(?:inaceitável|vergonha|vergonhoso|absurdo|ridículo|lamentável|golpe|fraude|ladrões|"
               r"incompetentes?|(?:o\s+)?pior\s+(?:atendimento|serviço|empresa)|palhaçada|porcaria|lixo|merda)\b",
    ),
    "it": _cues(
        emotion=r"\b(?:furios[oa]|arrabbiat[oa]|incazzat[oa]|indignat[oa]|ridatemi\s+i\s+soldi|(?:è|questo\s+è)\s+un\s+furto|"
                r"idioti|complimenti,)\b",
        legal=r"\b(?:avvocato|denuncia\w*|tribunale|querela|codacons|altroconsumo|adiconsum|agcom)\b",
        leaving=r"\b(?:disdico|sono\s+stuf[oa]|ne\s+ho\s+abbastanza|basta\s+così|mai\s+più)\b",
        insult=r"\b(?:inaccettabile|vergogn\w*|scandal\w*|ridicolo|assurdo|truff\w*|ladri|incompetenti|"
               r"(?:il\s+)?pessimo\s+servizio|(?:il\s+)?peggior\w*\s+(?:servizio|assistenza|azienda)|schifo|"
               r"presa\s+in\s+giro)\b",
    ),
}

# Shouting: three words in capitals in a row, or one of the words people capitalise in anger.
_SHOUTED_RUN = re.compile(r"(?<!\w)(?:[A-ZÀ-ÖØ-Þ]{2,}[^\w\n]{1,3}){2,}[A-ZÀ-ÖØ-Þ]{2,}(?!\w)")
_SHOUTED_WORD = re.compile(r"(?<!\w)(?:AGAIN|NOW|NEVER|STILL|NOTHING|NOBODY|PAID|STOP|IMMEDIATELY|TODAY|WHY|"
                           r"WHERE|REFUND|CANCELLED|SOFORT|JETZT|NIE|IMMER|MAINTENANT|JAMAIS|YA|AHORA|NUNCA|"
                           r"AGORA|NUNCA|SUBITO|ADESSO|MAI)(?!\w)")


class FrustrationCues:
    def __init__(self, languages: Iterable[str] = LANGUAGES):
        self._languages = [(code, _CUES[code]) for code in languages]

    def find(self, normalized: str) -> FrustrationCue | None:
        """The first cue in `normalized` (text already normalised), or None."""
        shouted = _SHOUTED_RUN.search(normalized) or _SHOUTED_WORD.search(normalized)
        if shouted:
            return FrustrationCue("any:shouting", shouted.group(0).strip())
        folded = _unaccented(normalized)
        for code, cues in self._languages:
            for kind, pattern in cues:
                found = pattern.search(folded)
                if found:
                    return FrustrationCue(f"{code}:{kind}", normalized[found.start():found.end()])
        return None
