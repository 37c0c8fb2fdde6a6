"""Recognising a request for a human, not a word: "can I talk to a real person?" asks for one; "how do I
set the user agent?", "export it in human-readable form" and "no need for an agent, just tell me the
price" do not.

A request is a request pattern of the message's language (a verb of asking or talking followed by someone
who is a person, a call-back, or a message that is nothing but "agent, please"), unless a negation of that
language stands just before it in the same clause ("I don't want to talk to an agent"). Matching runs on
the normalised text (lambdas/common/text_normalization.py), case-folded, without accents ("húman"), and
with words spelled out letter by letter joined back ("a s u p e r v i s o r").

Languages are chosen in cdk.json (`human_request_languages`); `human_request_patterns` adds an operator's
own regular expressions (any language, matched case-insensitively, never negated). Every match names
itself ("en:talk-to") so the escalation record can say which pattern fired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from lambdas.common.text_normalization import strip_accents

LANGUAGES = ("en", "de", "fr", "es", "pt", "it")
# How far before a match a negation still applies to it, in words: "I don't want to talk to a human"
# negates; "I don't know what else to try, get me a human" does not.
NEGATION_REACH_WORDS = 4


@dataclass(frozen=True)
class HumanRequest:
    """A recognised request: which pattern (language:name) and the words it matched."""

    pattern: str
    excerpt: str


@dataclass(frozen=True)
class _Language:
    requests: tuple[tuple[str, re.Pattern[str]], ...]
    negation: re.Pattern[str]
    # Patterns that are requests whatever precedes them ("no more bots").
    unnegatable: frozenset[str] = frozenset()


def _compile(patterns: dict[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    # Written with accents for the reader; matched without them, like the text (see _fold).
    return tuple((name, re.compile(strip_accents(pattern))) for name, pattern in patterns.items())


# A clause ends at sentence punctuation or a contrast ("..., but get me a human").
_CLAUSE_BREAK = re.compile(strip_accents(r"[.!?;:,()\n]|\b(?:but|aber|doch|mais|pero|sino|mas|porém|ma|però)\b"))

# English -------------------------------------------------------------------------------------------------
_EN_WHO = (r"(?:(?:a|an|the|some|any|your|one\s+of\s+your|to)\s+){0,2}"
           r"(?:(?:real|live|actual|human|proper|competent|qualified|flesh\s+and\s+blood|breathing)\s+)*"
           r"(?:human(?:\s+beings?)?|humans|person|people|agent|representative|rep|operator|someone|somebody|"
           r"anyone|anybody|staff(?:\s+member)?|employee|team\s+member|member\s+of\s+(?:staff|your\s+team|the\s+team)|"
           r"(?:(?:complaints?|billing|accounts?|sales|support|service|claims|store|branch|duty|shift|floor|"
           r"customer|regional|general)\s+)?(?:manager|supervisor)|"
           r"customer\s+(?:service|support|care)(?:\s+(?:agent|rep|representative|team|person))?|"
           r"support\s+(?:agent|team|person|staff|rep)|advisor|adviser|specialist|consultant|colleagues?|"
           r"(?:\w+\s+)?(?:team|department)|call[\s-]?back|phone\s+call|"
           r"(?:live|human)\s+(?:support|help|assistance|chat|person|agent)|"
           r"(?:someone|somebody|a\s+person)\s+(?:real|from\s+(?:your|the)\s+\w+))"
           # "the user agent string", "operator crash": a person-word followed by a thing is not a person.
           r"(?!\s*(?:-|forwarding|string|header|field|role|roles|process|pod|readable|resources?|sample|"
           r"api|sdk|config|key|socket|log|logs|version|image|pattern|library|class|crash|permissions?)\b)")
_EN = _Language(
    requests=_compile({
        "talk-to": rf"\b(?:talk|speak|chat|converse)\s+(?:to|with)\s+{_EN_WHO}",
        "transfer-me": rf"\b(?:connect|transfer|put|pass|forward|redirect|send|route)\s+me\s+"
                       rf"(?:to|through\s+to|through|with|over\s+to)\s+{_EN_WHO}",
        "get-me": rf"\b(?:get|give|find|bring|fetch)\s+me\s+{_EN_WHO}",
        "put-on": rf"\bput\s+{_EN_WHO}\s+on\s+(?:this|the|my)\s+(?:chat|line|call|case|ticket)\b",
        "where-is": rf"\bwhere(?:'s|\s+is|\s+are)\s+{_EN_WHO}",
        "who-can-i": r"\bwho\s+(?:can|could|do|should|may)\s+i\s+(?:\w+\s+)?(?:talk|speak|chat)\s+(?:to|with)\b|"
                     r"\bwho(?:'s|\s+is)\s+in\s+charge\b",
        "rather-explain": rf"\b(?:rather|prefer\s+to)\s+(?:explain|discuss|go\s+through|talk|speak)\b[^.?!]{{0,30}}"
                          rf"\b(?:to|with)\s+{_EN_WHO}",
        "where-reach": rf"\b(?:where|how)\s+(?:can\s+)?i\s+(?:can\s+)?(?:reach|call|contact|talk\s+to|speak\s+to)\s+{_EN_WHO}",
        "want": rf"\b(?:i\s+(?:want|need|demand|request|would\s+like|'d\s+like|wanna)|can\s+i\s+(?:have|get)|"
                rf"could\s+i\s+(?:have|get)|may\s+i\s+(?:have|get)|let\s+me\s+have)\s+{_EN_WHO}",
        "is-there": rf"\b(?:is|are)\s+there\s+{_EN_WHO}\s+(?:around|available|here|there|on\s+(?:the\s+)?line|"
                    rf"(?:i\s+can|to)\s+(?:talk|speak|chat|call|contact|reach)|(?:who|that)\s+can)\b",
        "transfer-me-alone": r"^(?:please\s+)?(?:transfer|connect|put)\s+me(?:\s+(?:through|over))?"
                             r"(?:\s*(?:please|now|asap|!|\.))*\s*$",
        "rather-than-bot": r"\b(?:rather|prefer)\b[^.?!]{0,80}\b(?:than|instead\s+of|over)\s+(?:with\s+|to\s+)?"
                           r"(?:a|the|this|your)\s+(?:bot|robot|machine|chatbot|ai)\b",
        "get-back-to-me": r"\b(?:someone|somebody|a\s+person|a\s+human|your\s+team|an?\s+agent)\b[^.?!]{0,60}"
                          r"\b(?:get\s+back\s+to\s+me|call\s+me|contact\s+me|reach\s+out\s+to\s+me)\b",
        "want-to-reach": rf"\b(?:i\s+(?:want|need|would\s+like|'d\s+like|am\s+trying|'m\s+trying|have\s+been\s+trying)|"
                         rf"let\s+me|how\s+(?:can|do)\s+i)\s+(?:to\s+)?(?:reach|contact|get\s+hold\s+of|"
                         rf"get\s+in\s+touch\s+with|get\s+through\s+to)\s+{_EN_WHO}",
        "hand-over": rf"\b(?:hand|pass)\s+(?:me|this|it|my\s+\w+)\s+(?:over\s+|on\s+)?to\s+{_EN_WHO}|"
                     rf"\bput\s+me\s+in\s+touch\s+with\s+{_EN_WHO}",
        "have-someone": rf"\b(?:(?:have|let|get)\s+{_EN_WHO}|(?:someone|somebody|one\s+of\s+your\s+(?:staff|team|people|agents)|"
                        rf"a\s+(?:real\s+)?(?:person|human))\s+(?:could|can|would|should|to))\s+(?:please\s+)?"
                        rf"(?:look|check|review|handle|call|contact|deal|take\s+(?:a\s+look|over))\b",
        "help-from": rf"\bhelp\s+from\s+{_EN_WHO}",
        "anyone-there": r"\b(?:is\s+)?(?:anyone|anybody|someone|somebody)\s+(?:real\s+)?(?:there|here|around|"
                        r"(?:out\s+)?there)\s*\?",
        "escalate": r"^(?:please\s+)?escalate(?:\s+(?:please|now|this))*\s*[.!]*\s*$|"
                    r"\bescalate\s+(?:this\s+|it\s+|me\s+)?to\s+(?:a\s+|the\s+|your\s+)?(?:tier|level|human|person|manager|"
                    r"supervisor|someone|higher|second|2nd)\b|\bescalate\s+(?:this|it|me|my\s+(?:case|issue|ticket|complaint|problem))\b",
        "call-me": r"\b(?:call|phone|ring|contact)\s+me(?:\s+back)?\b(?!\s+(?:by|via)\s+(?:email|e-mail))",
        "someone-call": r"\b(?:can|could|would|will)\s+(?:someone|somebody|anyone|a\s+(?:real\s+)?(?:person|human))"
                        r"(?:\s+from\s+[\w\s]{1,30}?)?\s+(?:please\s+)?(?:call|contact|phone|ring|help|get\s+back\s+to)\s+"
                        r"(?:me|him|her|us|my\s+\w+)\b",
        "no-bot": r"\b(?:no\s+more|not\s+(?:a|another|the)|stop\s+(?:the|this)|enough\s+(?:of\s+)?(?:the|this)?)\s*"
                  r"(?:bot|robot|machine|chatbot|ai|automated\s+\w+)s?\b",
        "alone": rf"^(?:please\s+|pls\s+|hello\s+|hi\s+)?{_EN_WHO}(?:\s*(?:{_EN_WHO}|please|pls|now|asap|!|\.|\?|,))*\s*$",
    }),
    negation=re.compile(r"\b(?:don't|dont|do\s+not|doesn't|does\s+not|no|not|never|without|no\s+need|"
                        r"rather\s+not|instead\s+of|won't|wouldn't|didn't|did\s+not)\b"),
    unnegatable=frozenset({"no-bot", "rather-than-bot"}),
)

# German --------------------------------------------------------------------------------------------------
_DE_WHO = (r"(?:(?:einem|einer|einen|eine|ein|dem|der|den|die|ihrem|ihrer|ihren|mit|zu)\s+){0,2}"
           r"(?:(?:echten?|richtigen?|menschlichen?|lebenden?)\s+)*"
           r"(?:menschen|mensch|mitarbeiter(?:in|innen)?|person|berater(?:in)?|kundenberater(?:in)?|"
           r"kundendienst|kundenservice|support(?:-?mitarbeiter(?:in)?)?|jemand(?:em|en)?|vorgesetzten?|"
           r"sachbearbeiter(?:in)?|ansprechpartner(?:in)?|agent(?:en|in)?|operator|zuständigen)\b")
_DE = _Language(
    requests=_compile({
        "sprechen": rf"{_DE_WHO}\s+(?:\w+\s+){{0,3}}(?:sprechen|reden|telefonieren|klären|besprechen|"
                    rf"verbunden\s+werden)",
        "verbinden": r"\b(?:verbinden|stellen)\s+sie\s+mich\b(?!\s+nicht)",
        "zurueckrufen": r"\bmich\b[^.?!]{0,40}\b(?:zurückrufen|anrufen|kontaktieren|verbinden|durchstellen)\b",
        "weiterleiten": rf"\b(?:an|zu)\s+{_DE_WHO}\s+(?:\w+\s+)?(?:weiterleiten|übergeben|durchstellen|weitergeben)\b",
        "geben-sie-mir": rf"\b(?:geben|holen)\s+sie\s+mir\s+(?:bitte\s+)?{_DE_WHO}",
        "gibt-es": rf"\b(?:gibt\s+es|ist\s+(?:da|hier))\s+(?:hier\s+|da\s+|auch\s+)?{_DE_WHO}",
        "will": rf"\b(?:ich\s+(?:will|möchte|brauche|hätte\s+gern|verlange)|kann\s+ich)\s+(?:\w+\s+){{0,2}}{_DE_WHO}",
        "rueckruf": r"\b(?:rückruf|ruf(?:en)?\s+(?:sie\s+)?mich\s+(?:bitte\s+)?(?:zurück|an))\b",
        "kein-bot": r"\b(?:keinen?|nicht\s+(?:mit\s+)?(?:dem|einem))\s+(?:bot|roboter|chatbot|maschine)\b",
        "allein": rf"^(?:bitte\s+)?{_DE_WHO}(?:\s*(?:bitte|sofort|jetzt|danke|!|\.|\?|,))*\s*$",
    }),
    negation=re.compile(r"\b(?:nicht|kein|keine|keinen|keinem|ohne|nie|niemals)\b"),
    unnegatable=frozenset({"kein-bot"}),
)

# French --------------------------------------------------------------------------------------------------
_FR_WHO = (r"(?:(?:un|une|le|la|l'|votre|vos|des|à|avec)\s*){0,2}"
           r"(?:(?:vrai|vraie|véritable|vrais)\s+)?"
           r"(?:humain|être\s+humain|personne(?!\s+ne)|conseiller|conseillère|agent|opérateur|opératrice|"
           r"quelqu'un|responsable|superviseur|service\s+client|technicien|interlocuteur|collaborateur)"
           r"(?:\s+(?:humain|réel|réelle|en\s+chair\s+et\s+en\s+os))?")
_FR = _Language(
    requests=_compile({
        "parler": rf"\b(?:parler|discuter|échanger)\s+(?:à|avec)\s+{_FR_WHO}",
        "mettre-en-relation": r"\b(?:mettez|mets|passez|transférez)[-\s]moi\b",
        "vouloir": rf"\b(?:je\s+(?:veux|voudrais|souhaite|souhaiterais|demande|exige)|j'aimerais|puis-je\s+avoir)"
                   rf"\s+(?:\w+\s+){{0,2}}{_FR_WHO}",
        "peut-aider": rf"\b{_FR_WHO}\s+(?:peut|pourrait|peuvent)[-\s](?:il\s+|elle\s+)?(?:m'aider|me\s+répondre|"
                      rf"prendre\s+le\s+relais|s'occuper\s+de)",
        "joindre": rf"\b(?:joindre|contacter|avoir|être\s+mise?s?\s+en\s+relation\s+avec|transférer\s+à)\s+{_FR_WHO}",
        "transmettre": rf"\b(?:transmettre|transférer|passer|confier)\s+(?:mon|ma|mes|le|la|ce)?\s*(?:\w+\s+)?à\s+{_FR_WHO}",
        "y-a-t-il": rf"\by\s+a[-\s]t[-\s]il\s+{_FR_WHO}",
        "etre-rappele": r"\bêtre\s+rappelée?\b",
        "rappel": r"\b(?:rappelez|appelez|contactez)[-\s]moi\b|\bqu'on\s+me\s+rappelle\b|"
                  r"\bme\s+(?:rappeler|recontacter|téléphoner)\b",
        "pas-de-robot": r"\b(?:pas\s+(?:de|un|une|avec\s+(?:un|une|le|la))|plus\s+de|stop\s+(?:au|aux))\s+"
                        r"(?:robot|bot|chatbot|machine|ia)s?\b",
        "seul": rf"^(?:svp\s+)?{_FR_WHO}(?:\s*(?:svp|s'il\s+vous\s+plaît|maintenant|merci|!|\.|\?|,))*\s*$",
    }),
    negation=re.compile(r"\b(?:pas|ne|n'|jamais|sans|aucun|aucune|plutôt\s+que)\b|\bn'"),
    unnegatable=frozenset({"pas-de-robot"}),
)

# Spanish -------------------------------------------------------------------------------------------------
_ES_WHO = (r"(?:(?:un|una|el|la|alguien|algún|alguna|su|sus|a|con)\s+){0,2}"
           r"(?:(?:verdadero|verdadera|real)\s+)?"
           r"(?:humano|ser\s+humano|persona|agente|asesor|asesora|operador|operadora|alguien|supervisor|"
           r"supervisora|encargado|encargada|gerente|responsable|ejecutivo|ejecutiva|"
           r"atención\s+al\s+cliente|servicio\s+al\s+cliente)"
           r"(?:\s+(?:real|de\s+verdad|humano|humana))?")
_ES = _Language(
    requests=_compile({
        "hablar": rf"\b(?:hablar|conversar|comunicarme)\s+(?:con|a)\s+{_ES_WHO}",
        "pasame": r"\b(?:pásame|pasame|páseme|paseme|comuníqueme|comuniqueme|transfiérame|transfiérame|"
                  r"transfiéreme|transfiereme|conécteme|conecteme)\b",
        "quiero": rf"\b(?:quiero|quisiera|necesito|exijo|me\s+gustaría|puedo\s+tener)\s+(?:\w+\s+){{0,2}}{_ES_WHO}",
        "atienda": rf"\b(?:me\s+(?:atienda|atiendan|ayude|ayuden)|atenderme|atiéndame|atiendame)\s+{_ES_WHO}|"
                   rf"\bque\s+alguien\s+(?:de\s+\w+\s+\w+\s+)?(?:revise|me\s+llame|me\s+atienda|me\s+ayude|mire|se\s+encargue)",
        "hay": rf"\bhay\s+{_ES_WHO}",
        "transferir": rf"\b(?:transferir(?:me)?|pasar(?:me)?|comunicar(?:me)?|derivar(?:me)?)\s+(?:a|con)\s+{_ES_WHO}|"
                      rf"\b(?:comuníquenme|pásenme|transfiéranme)\b",
        "llamar": r"\b(?:llámenme|llamenme|llámame|llamame|que\s+me\s+llamen)\b|"
                  r"\bme\s+(?:pueden|puede|podrían|podría)\s+(?:llamar|contactar|devolver\s+la\s+llamada)\b",
        "no-robot": r"\b(?:no\s+(?:más|mas)|basta\s+de|nada\s+de)\s+(?:robots?|bots?|chatbots?|máquinas?)\b",
        "solo": rf"^(?:por\s+favor\s+)?{_ES_WHO}(?:\s*(?:por\s+favor|ya|ahora|gracias|!|\.|\?|¡|¿|,))*\s*$",
    }),
    negation=re.compile(r"\b(?:no|sin|nunca|ni|jamás|tampoco)\b"),
    unnegatable=frozenset({"no-robot"}),
)

# Portuguese ----------------------------------------------------------------------------------------------
_PT_WHO = (r"(?:(?:um|uma|o|a|alguém|algum|alguma|seu|sua|com)\s+){0,2}"
           r"(?:(?:verdadeiro|verdadeira|real)\s+)?"
           r"(?:humano|ser\s+humano|pessoa|atendente|agente|operador|operadora|alguém|supervisor|supervisora|"
           r"gerente|responsável|consultor|consultora|assistente\s+humano|suporte|atendimento)"
           r"(?:\s+(?:real|de\s+verdade|humano|humana))?")
_PT = _Language(
    requests=_compile({
        "falar": rf"\b(?:falar|conversar)\s+(?:com|a)\s+{_PT_WHO}",
        "transfere": r"\b(?:me\s+(?:transfira|transfere|passe|passa|coloque|conecte)|transfira-me|passe-me)\b",
        "quero": rf"\b(?:quero|queria|gostaria\s+de|preciso\s+de|exijo|posso\s+ter)\s+(?:\w+\s+){{0,2}}{_PT_WHO}",
        "tem": rf"\b(?:tem|há|existe)\s+{_PT_WHO}\s+(?:aí|ai|ai\?|disponível|para\s+(?:falar|me\s+atender))",
        "atendimento-humano": r"\batendimento\s+(?:humano|com\s+(?:uma\s+)?pessoa)\b",
        "chama": rf"\b(?:chama|chame|chamem)\s+{_PT_WHO}",
        "ligar": r"\b(?:me\s+liguem|me\s+ligue|liguem-me|liguem\s+para\s+mim|me\s+retornem|retornem\s+a\s+ligação)\b|"
                 r"\b(?:pode|podem|poderia|poderiam)\s+me\s+(?:ligar|telefonar|retornar|contatar|chamar)\b",
        "sem-robo": r"\b(?:chega\s+de|não\s+quero\s+(?:falar\s+com\s+)?(?:o|um)?)\s*(?:robôs?|robos?|bots?|chatbots?|máquinas?)\b",
        "sozinho": rf"^(?:por\s+favor\s+)?{_PT_WHO}(?:\s*(?:por\s+favor|já|agora|obrigad[oa]|!|\.|\?|,))*\s*$",
    }),
    negation=re.compile(r"\b(?:não|nao|sem|nunca|nem|jamais)\b"),
    unnegatable=frozenset({"sem-robo"}),
)

# Italian -------------------------------------------------------------------------------------------------
_IT_WHO = (r"(?:(?:un|uno|una|un'|il|lo|la|l'|qualcuno|vostro|vostra|con)\s*){0,2}"
           r"(?:(?:vero|vera)\s+)?"
           r"(?:umano|essere\s+umano|persona|operatore|operatrice|agente|consulente|qualcuno|responsabile|"
           r"supervisore|assistente|addetto|addetta|servizio\s+clienti|assistenza)"
           r"(?:\s+(?:reale|vero|vera|umano|in\s+carne\s+e\s+ossa))?")
_IT = _Language(
    requests=_compile({
        "parlare": rf"\b(?:parlare|conversare)\s+(?:con|a)\s+{_IT_WHO}",
        "passami": r"\b(?:passatemi|passami|mi\s+passi|mi\s+passate|mettetemi\s+in\s+contatto|trasferitemi|mi\s+trasferisca)\b",
        "voglio": rf"\b(?:voglio|vorrei|ho\s+bisogno\s+di|esigo|pretendo|posso\s+avere)\s+(?:\w+\s+){{0,2}}{_IT_WHO}",
        "c-e": rf"\bc'(?:è|e)\s+{_IT_WHO}",
        "essere-ricontattato": r"\bessere\s+(?:ri)?contattat[oa]\b|\bessere\s+richiamat[oa]\b",
        "in-contatto": rf"\bin\s+contatto\s+con\s+{_IT_WHO}",
        "assistenza-umana": r"\bassistenza\s+(?:umana|clienti\s+umana)\b|\b(?:un\s+)?essere\s+umano\b",
        "richiamare": r"\b(?:richiamatemi|chiamatemi|mi\s+(?:richiamate|chiamate|richiami|chiami)|fatemi\s+chiamare)\b|"
                      r"\bmi\s+(?:può|possono|potrebbe|potreste|potete)\s+(?:richiamare|chiamare|contattare|ricontattare)\b",
        "basta-bot": r"\b(?:basta\s+(?:con\s+)?(?:il|i|questo)?|niente\s+(?:più)?)\s*(?:bot|robot|chatbot|macchine?)\b",
        "solo": rf"^(?:per\s+favore\s+)?{_IT_WHO}(?:\s*(?:per\s+favore|subito|adesso|ora|grazie|!|\.|\?|,))*\s*$",
    }),
    negation=re.compile(r"\b(?:non|senza|mai|né|nessun|nessuno|nessuna)\b"),
    unnegatable=frozenset({"basta-bot"}),
)

_BUILT_IN: dict[str, _Language] = {"en": _EN, "de": _DE, "fr": _FR, "es": _ES, "pt": _PT, "it": _IT}


class HumanRequestMatcher:
    def __init__(self, languages: Iterable[str] = LANGUAGES, extra_patterns: Iterable[str] = ()):
        unknown = sorted(set(languages) - set(_BUILT_IN))
        if unknown:
            raise ValueError(f"no human-request patterns for {', '.join(unknown)}; known: {', '.join(LANGUAGES)}")
        self._languages = [(code, _BUILT_IN[code]) for code in languages]
        self._extra = [re.compile(p, re.IGNORECASE) for p in extra_patterns]

    def find(self, normalized: str) -> HumanRequest | None:
        """The first request in `normalized` (text already normalised), or None."""
        text, origin, spelled = _fold(normalized)
        for start, end in spelled:
            # Spelling a word out letter by letter is itself a sign: a request someone hid from a filter.
            if _SPELLED_REQUEST.search(text[start:end]):
                return HumanRequest("any:spelled-out", normalized[origin[start]:origin[end - 1] + 1])
        for code, language in self._languages:
            for name, pattern in language.requests:
                for match in pattern.finditer(text):
                    if name in language.unnegatable or not _negated(text, match, language.negation):
                        excerpt = normalized[origin[match.start()]:origin[match.end() - 1] + 1]
                        return HumanRequest(f"{code}:{name}", excerpt.strip())
        for index, pattern in enumerate(self._extra):
            found = pattern.search(normalized)
            if found:
                return HumanRequest(f"custom:{index}", found.group(0))
        return None


def _negated(text: str, match: re.Match[str], negation: re.Pattern[str]) -> bool:
    """A negation of the language among the few words before the match in the same clause, or inside it
    ("ich brauche keinen Mitarbeiter")."""
    before = text[:match.start()]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end():] if breaks else before
    window = " ".join(clause.split()[-NEGATION_REACH_WORDS:])
    return bool(negation.search(window) or negation.search(match.group(0)))


# Letters spelled out one by one ("a s u p e r v i s o r"), five or more: joined back into a word.
_SPELLED_OUT = re.compile(r"(?<!\w)\w(?: \w){4,}(?!\w)")
# What a spelled-out run asks for, written without spaces (the words between the letters are lost).
_SPELLED_REQUEST = re.compile(
    r"human|agent|person|representative|operator|supervisor|manager|callmeback|callback|someone|somebody|staff|"
    r"mitarbeiter|mensch|berater|ruckruf|conseiller|humain|personne|rappel|asesor|humano|persona|atendente|"
    r"pessoa|operador|operatore|qualcuno|umano")


def _fold(normalized: str) -> tuple[str, list[int], list[tuple[int, int]]]:
    """The text matching reads: case-folded, accents removed ("húman" is "human"), spelled-out words
    joined; for each of its characters, the index of the character of `normalized` it came from; and
    where the joined runs are."""
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(normalized):
        for folded in strip_accents(ch.casefold()):
            chars.append(folded)
            origin.append(index)
    text = "".join(chars)
    spelled: list[tuple[int, int]] = []
    for run in reversed(list(_SPELLED_OUT.finditer(text))):
        # An article before the letters stays a word of its own: "a s u p e r" is "a super".
        start = run.start() + 2 if text[run.start()] in "ai" and run.group(0).count(" ") >= 5 else run.start()
        spaces = [i for i in range(start, run.end()) if text[i] == " "]
        for i in reversed(spaces):
            del chars[i]
            del origin[i]
        removed = len(spaces)
        spelled = [(a - removed, b - removed) for a, b in spelled]  # later runs move left
        spelled.insert(0, (start, run.end() - removed))
        text = "".join(chars)
    return text, origin, spelled
