"""The key sentence: the passage's sentence closest to the query with the real MiniLM, and how a card marks it."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from cli.main import cli
from medcore.analysis import query_terms
from medcore.types import Hit
from search_app import key_sentence
from search_app.searcher import Searcher
from ui import present

PASSAGE = ("Tularemia is a zoonosis caused by Francisella tularensis. The child was bitten on the hand by a coyote "
           "while camping with her family. Amoxicillin/clavulanate given after the bite did not prevent fever and "
           "lymphadenopathy ten days later. Serology confirmed the diagnosis.")


def test_best_sentence_is_the_highest_cosine() -> None:
    sentences = np.array([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]], dtype=np.float32)
    assert key_sentence.best_sentence(np.array([0, 0.9, 0.1], dtype=np.float32), sentences) == 1
    assert key_sentence.sentence_spans("Short. Tiny. " + "A sentence long enough to be marked here.") == [(13, 54)]


def test_mark_hits_picks_the_answering_sentence_with_the_real_model(minilm) -> None:
    hits = [Hit(chunk_id=1, doc_id=1, score=1.0, text=PASSAGE),
            Hit(chunk_id=2, doc_id=2, score=0.5, text="One sentence only, nothing to choose between.")]
    marked = key_sentence.mark_hits(minilm, "did the antibiotic prevent infection after the animal bite", hits)
    start, end = marked[0].key_sentence
    assert PASSAGE[start:end].startswith("Amoxicillin/clavulanate given after the bite")
    assert marked[1].key_sentence is None and marked[1] == hits[1]
    other = key_sentence.mark_hits(minilm, "which organism causes tularemia", hits)[0]
    assert PASSAGE[other.key_sentence[0] : other.key_sentence[1]].startswith("Tularemia is a zoonosis")


class CountingEmbedder:
    """The real embedder, counting the sentences it is asked to embed."""

    def __init__(self, embedder) -> None:  # noqa: ANN001 - an Embedder
        self.inner, self.spec, self.embedded = embedder, embedder.spec, []

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return self.inner.encode_queries(queries)

    def encode_sentences(self, sentences: list[str]) -> np.ndarray:
        self.embedded.append(len(sentences))
        return self.inner.encode_sentences(sentences)


def test_candidates_are_the_sentences_sharing_most_query_words() -> None:
    text = ("The fever began at home in the evening. The coyote bite was on the back of the hand. Bites by coyotes "
            "are rare in most of the country. Serology was done two weeks after the visit.")
    spans = key_sentence.sentence_spans(text)
    assert len(spans) == 4
    assert key_sentence.candidates(text, spans, query_terms("coyote bite"), limit=3) == [(1, 2), (2, 2),
                                                                                                (0, 0)]


def test_marking_embeds_at_most_the_budget_in_one_batch_and_a_rerun_embeds_nothing(minilm) -> None:
    key_sentence.clear_cache()
    filler = " ".join(f"Sentence number {n} of passage {{p}} talks about nothing in particular." for n in range(6))
    hits = [Hit(chunk_id=p, doc_id=p, score=1.0 / (p + 1), text=filler.format(p=p) + " " + PASSAGE)
            for p in range(12)]
    counting = CountingEmbedder(minilm)
    query = "did the antibiotic prevent infection after the animal bite"
    marked = key_sentence.mark_hits(counting, query, hits, max_encoded=10)
    assert counting.embedded == [10], "one batch, no more than the budget"
    # the first passages are judged by the model (within the budget), the later ones by the sentence sharing most
    # query words ("prevent", "bite"); both pick the same sentence here
    for hit in marked:
        assert hit.text[hit.key_sentence[0] : hit.key_sentence[1]].startswith("Amoxicillin/clavulanate given after")
    again = key_sentence.mark_hits(counting, query, hits[:3], max_encoded=10)
    assert counting.embedded == [10], "a rerun over the same passages embeds nothing: the vectors are cached"
    assert again == marked[:3]
    key_sentence.clear_cache()
    assert key_sentence.mark_hits(minilm, query, hits[:1], max_encoded=100) == marked[:1], "budget-free result"


def test_snippet_shows_the_key_sentence_highlighted_with_terms_in_bold() -> None:
    start = PASSAGE.index("Amoxicillin")
    end = PASSAGE.index("Serology") - 1
    md = present.snippet(PASSAGE, "amoxicillin bite", max_chars=120, key=(start, end))
    assert ":orange-background[**Amoxicillin**/clavulanate given after the **bite** did not prevent" in md
    assert "later\\.]" in md, "the whole sentence is shown, even past max_chars"
    assert md.startswith("… "), "the window opens on the key sentence"
    assert ":orange-background" not in present.snippet(PASSAGE, "amoxicillin", key=None)


def test_papers_and_cli_mark_key_sentences(library_home, monkeypatch) -> None:
    searcher = Searcher.from_settings(library_home, "bm25")
    papers = key_sentence.mark_papers(searcher.sentence_embedder(), "what did the coyote bite transmit",
                                      searcher.search_papers("what did the coyote bite transmit", k=2))
    assert any(h.key_sentence for p in papers for h in p.passages)
    monkeypatch.setenv("MEDEMBED_HOME", str(library_home.paths.home))
    out = CliRunner().invoke(cli, ["search", "coyote bite tularemia", "--mode", "bm25", "--papers", "--json",
                                   "-k", "1", "--key-sentence"])
    passage = json.loads(out.output.splitlines()[0])["passages"][0]
    assert passage["key_sentence"] and passage["key_sentence"] in passage["text"]
    off = CliRunner().invoke(cli, ["search", "coyote bite", "--mode", "bm25", "--json", "--no-key-sentence"])
    assert off.exit_code == 0 and off.output and "key_sentence" not in off.output
