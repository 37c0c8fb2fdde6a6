"""The local demo's offline answers: a stand-in for Bedrock that only quotes Fernlink's help pages.

Fernlink is a fictional home-internet provider; its help pages are in local/knowledge/. Only two parts of
the chatbot are replaced, the retriever and the chat model; the chatbot's own answer chain
(lambdas/chatbot/answer.py's Answerer: system prompt, history, reference passages, sources) runs unchanged:

- `KnowledgeIndex` splits every page into its `##` sections and scores them against a question with BM25
  (plain Python: case-folded, accents stripped, a small stop-word list and a light suffix stemmer).
- `KnowledgeRetriever`, a LangChain retriever over that index, stands where the Bedrock Knowledge Base
  retriever stands. Its documents carry the metadata Knowledge Base documents carry (`location` with a
  `uri`, and `score`), so the Answerer puts each section in the prompt's reference block and returns it as
  a `Source`: uri `local/knowledge/<page>.md#<section>`, excerpt the passage (page title, heading and
  section text; the chatbot keeps its first 300 characters, which every sample section fits in), score the
  BM25 score over that of a section holding each of the question's words once, capped at 1. Sections under
  MIN_SCORE are not returned, so a question the pages do not cover gets no passages and no sources.
- `ExtractiveChatModel`, a LangChain chat model, stands where ChatBedrockConverse stands. It reads the
  passages the reference block put in the system message and the customer's last message, and answers with
  the sentences of the best passage that share the most (weighted) words with the question, quoted as they
  stand, under the page's title. With no passage it says it does not know and offers a human. It writes
  nothing of its own beyond fixed framing: every fact in an answer is a sentence of a help page.

Every answer says where it comes from twice: the bot turn's `model_id` is MODEL_ID (the Answerer stores it on
each bot turn: the sessions table and the S3 transcript keep it), and the text ends with STAND_IN_NOTE,
which the customer sees.

The seam into the handler is one keyword: `handler.build_service(settings, answerer=...)` builds the
service around a given answerer instead of the Bedrock one. The local runtime swaps the handler's start-up
for one that passes this module's answerer, before the first request:

    from lambdas.chatbot import handler
    from local import answer_model
    handler.dependencies = answer_model.offline_dependencies()

Nothing in lambdas/ imports this module, and a Lambda bundle holds lambdas/ only, so production is as it
was. The index is built once, when the service is (milliseconds for the sample pages); a question then costs
well under a millisecond of scoring.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from lambdas.chatbot.answer import Answerer
from lambdas.chatbot.service import ChatService
from lambdas.chatbot.settings import ChatbotSettings
from lambdas.common.startup import Startup

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = Path(__file__).resolve().parent / "knowledge"
MODEL_ID = "demo-extractive (stand-in, offline)"
STAND_IN_NOTE = "(Answered offline by the demo's stand-in model, which only quotes the sample help pages.)"
NOT_FOUND = ("I couldn't find that in our help pages, and I won't guess. If you'd like, ask to talk to a person "
             "and I'll bring in a human expert.")
MIN_SCORE = 0.55  # a section's score (0 to 1) below which it is not relevant to the question
MAX_SENTENCES = 2  # quoted from the best passage
BM25_K1 = 1.2
BM25_B = 0.75

STOP_WORDS = frozenset("""
a about after again all am an and any are as at be been before being but by can cannot could did do does
doing don for from get got had has have having he her here hers him his how i if in into is it its just me
might more most much my need no not now of off on once only or other our ours out please she should so some
such than that the their them then there these they this those through to too up very want was we were what
when where which while who whom why will with would yes you your yours
d ll m re s t ve
gets getting go goes going know like mean meaning means tell thing things time times way
""".split())  # the last two lines: what is left of "I'm" or "don't" once the apostrophe splits them, and
# words that say little about what a customer asks ("what does it mean", "tell me", "how long a time")

# Words a customer uses for what the pages call by another name, both sides mapped to one term (the pages
# say "Hub" where customers say "router").
SYNONYMS = {
    "router": "hub", "modem": "hub", "house": "home", "forgot": "forgotten", "forget": "forgotten",
    "login": "sign", "log": "sign", "compensate": "credit", "compensation": "credit", "kid": "child",
    "kids": "child", "children": "child", "son": "child", "daughter": "child", "invoice": "bill",
    "wireless": "wifi", "bedroom": "room", "kitchen": "room", "upstairs": "room", "downstairs": "room",
}

_WORD = re.compile(r"[a-z0-9]+")
_JOINED = re.compile(r"(?<=[a-z0-9])-(?=[a-z0-9])")  # "Wi-Fi" is "wifi", "6-digit" is "6digit"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_PASSAGE = re.compile(r'<passage id="\d+">\n(.*?)\n</passage>', re.DOTALL)
_TITLE_SEPARATOR = " > "


def fold(text: str) -> str:
    """Case-folded, accents stripped ("Café" and "cafe" are one word)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def stem(word: str) -> str:
    """A light suffix stripper, the same for pages and questions: "cancelling", "cancelled" and "cancel",
    or "moving", "moves" and "move", end up one term. Not a linguist's stemmer; it only has to be consistent."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    elif len(word) > 4 and word.endswith("sses"):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The words of `text` that carry meaning, folded, stemmed and synonyms made one, in order."""
    stems = [stem(w) for w in _WORD.findall(_JOINED.sub("", fold(text))) if w not in STOP_WORDS]
    return [_SYNONYMS.get(s, s) for s in stems]


_SYNONYMS = {stem(word): stem(term) for word, term in SYNONYMS.items()}


def sentences(text: str) -> list[str]:
    """One sentence per item, each a substring of `text`: lines, then sentence ends within a line (a list
    item's marker is left out)."""
    found = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line).strip()
        found += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return found


def anchor(heading: str) -> str:
    """The heading's anchor as GitHub renders Markdown: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@dataclass(frozen=True)
class Section:
    title: str  # the page's
    heading: str
    uri: str  # local/knowledge/<page>.md#<anchor>
    text: str  # as written, one paragraph per line

    @property
    def passage(self) -> str:
        """What the model reads: the page title and heading on the first line, then the text."""
        return f"{self.title}{_TITLE_SEPARATOR}{self.heading}\n{self.text}"


def read_page(path: Path, *, root: Path = ROOT) -> list[Section]:
    """A page's `## ` sections; its `# ` line is the title. Text before the first section is not used."""
    try:
        location = path.resolve().relative_to(root).as_posix()
    except ValueError:  # a folder outside the repository (tests): the file's name
        location = path.name
    title = path.stem
    parts: list[tuple[str, list[str]]] = []  # (heading, lines)
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            parts.append((line[3:].strip(), []))
        elif line.startswith("# "):
            title = line[2:].strip()
        elif parts:
            parts[-1][1].append(line)
    return [Section(title=title, heading=heading, uri=f"{location}#{anchor(heading)}", text="\n".join(lines).strip())
            for heading, lines in parts if "".join(lines).strip()]


def read_folder(folder: Path = KNOWLEDGE) -> list[Section]:
    """Every page's sections, pages in name order; README.md is about the folder, not a page."""
    return [s for path in sorted(folder.glob("*.md")) if path.name.lower() != "readme.md" for s in read_page(path)]


class KnowledgeIndex:
    """BM25 over sections. A section's terms are its page title's, its heading's (twice: a heading says what
    the section is about) and its text's."""

    def __init__(self, sections: Sequence[Section]):
        if not sections:
            raise ValueError("the knowledge folder holds no sections")
        self.sections = tuple(sections)
        self._counts = [Counter(terms(s.title) + 2 * terms(s.heading) + terms(s.text)) for s in self.sections]
        self._lengths = [sum(c.values()) for c in self._counts]
        self._average_length = sum(self._lengths) / len(self._lengths)
        frequency = Counter(t for c in self._counts for t in c)
        n = len(self.sections)
        self.weights = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in frequency.items()}
        self.unknown_weight = math.log(1 + (n + 0.5) / 0.5)  # a word no page has: rarer than any

    @classmethod
    def from_folder(cls, folder: Path = KNOWLEDGE) -> KnowledgeIndex:
        return cls(read_folder(folder))

    def weight(self, term: str) -> float:
        return self.weights.get(term, self.unknown_weight)

    def search(self, question: str, k: int) -> list[tuple[Section, float]]:
        """The best `k` sections by BM25, best first, each with its score (0 to 1); those under MIN_SCORE
        are left out."""
        query = set(terms(question))
        if not query:
            return []
        # A term met once in a section of average length adds its weight: the question's total weight is the
        # score of a section holding every term once, where the score reaches 1 (and stops).
        full = sum(self.weight(t) for t in query)
        ranked = sorted(((-self._bm25(query, i), i) for i in range(len(self.sections))))  # ties: page order
        found = [(self.sections[i], round(min(1.0, -bm25 / full), 3)) for bm25, i in ranked[:k]]
        return [(s, score) for s, score in found if score >= MIN_SCORE]

    def _bm25(self, query: Iterable[str], i: int) -> float:
        counts, norm = self._counts[i], BM25_K1 * (1 - BM25_B + BM25_B * self._lengths[i] / self._average_length)
        return sum(self.weight(t) * counts[t] * (BM25_K1 + 1) / (counts[t] + norm) for t in query if counts[t])


class KnowledgeRetriever(BaseRetriever):
    """Sections as Knowledge Base retrieval results: `page_content` the passage, `location.localLocation.uri`
    the page and section, `score` the index's."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: KnowledgeIndex
    k: int = 4

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content=section.passage,
                         metadata={"location": {"type": "LOCAL", "localLocation": {"uri": section.uri}},
                                   "score": score})
                for section, score in self.index.search(query, self.k)]


class ExtractiveChatModel(BaseChatModel):
    """Answers by quoting the reference passages in its system message; never by writing facts of its own.

    It takes the passages in the order the retriever ranked them and quotes the first one: up to
    MAX_SENTENCES of its sentences, those sharing the most weighted question words (a sentence scoring under
    half the best is left out), in the page's order; the passage's first sentences when none shares a word
    (the section matched by its heading). Only the system message's passages are read: a customer message
    or an earlier turn that looks like a passage is not quoted."""

    weights: dict[str, float] = {}  # the index's term weights; a word it does not know weighs `unknown_weight`
    unknown_weight: float = 1.0

    @property
    def _llm_type(self) -> str:
        return "demo-extractive"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        system = next((str(m.text) for m in messages if m.type == "system"), "")
        question = next((str(m.text) for m in reversed(messages) if m.type == "human"), "")
        _, found, block = system.rpartition("<passages>\n")
        passages = _PASSAGE.findall(block) if found else []
        text = (self.quote(passages[0], question) if passages else NOT_FOUND) + "\n\n" + STAND_IN_NOTE
        message = AIMessage(content=text, response_metadata={"stopReason": "end_turn", "model_name": MODEL_ID})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def quote(self, passage: str, question: str) -> str:
        head, _, body = passage.partition("\n")
        title, separator, heading = head.partition(_TITLE_SEPARATOR)
        if not separator:  # a passage that is not one of the index's sections: no title to name
            title, heading, body = "", "", passage
        candidates = sentences(body)
        query = set(terms(question))
        scores = [sum(self.weights.get(t, self.unknown_weight) for t in query & set(terms(s))) for s in candidates]
        best = max(scores, default=0.0)
        if best > 0:
            chosen = sorted(sorted(range(len(candidates)), key=lambda i: -scores[i])[:MAX_SENTENCES])
            chosen = [i for i in chosen if scores[i] >= best / 2]
        else:
            chosen = list(range(min(MAX_SENTENCES, len(candidates))))
        quoted = " ".join(candidates[i] for i in chosen)
        return f'From our help page "{title}" ({heading}): {quoted}' if title else f"From our help pages: {quoted}"


def build_answerer(settings: ChatbotSettings, folder: Path = KNOWLEDGE) -> Answerer:
    """The chatbot's Answerer with the stand-ins: the configured system prompt, as many passages as
    `knowledge_base_results` says, MODEL_ID on every bot turn."""
    index = KnowledgeIndex.from_folder(folder)
    return Answerer(model=ExtractiveChatModel(weights=index.weights, unknown_weight=index.unknown_weight),
                    model_id=MODEL_ID, system_prompt=settings.system_prompt,
                    retriever=KnowledgeRetriever(index=index, k=settings.knowledge_base_results))


def build_offline_service(settings: ChatbotSettings, folder: Path = KNOWLEDGE) -> ChatService:
    # The handler module is imported when it is used: its logger and metrics read their names from the
    # environment at import, which the local runtime sets first.
    from lambdas.chatbot.handler import build_service

    return build_service(settings, answerer=build_answerer(settings, folder))


def build_bedrock_service(settings: ChatbotSettings, folder: Path = KNOWLEDGE) -> ChatService:
    """The chatbot as deployed (Bedrock, the configured model and guardrail), retrieving from the sample help
    pages instead of a Knowledge Base: `make demo MODEL=bedrock`."""
    from lambdas.chatbot.handler import bedrock_answerer, build_service

    answerer = bedrock_answerer(settings)
    answerer.retriever = KnowledgeRetriever(index=KnowledgeIndex.from_folder(folder), k=settings.knowledge_base_results)
    return build_service(settings, answerer=answerer)


def bedrock_dependencies(folder: Path = KNOWLEDGE) -> Startup[ChatService]:
    """The chatbot handler's start-up with Bedrock's answers over the sample pages."""
    return Startup(lambda: build_bedrock_service(ChatbotSettings.from_env(), folder))


def offline_dependencies(folder: Path = KNOWLEDGE) -> Startup[ChatService]:
    """The chatbot handler's start-up with offline answers: assign it to `lambdas.chatbot.handler.dependencies`."""
    return Startup(lambda: build_offline_service(ChatbotSettings.from_env(), folder))
