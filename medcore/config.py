"""One typed, frozen settings object, built from defaults, an optional TOML file and ``MEDEMBED_*`` variables.

Sections mirror the areas of the system. Every key can be overridden from the environment as
``MEDEMBED_<SECTION>_<KEY>`` (e.g. ``MEDEMBED_SEARCH_RRF_K=30``); the two most common have short names:
``MEDEMBED_HOME`` (data directory) and ``MEDEMBED_DATABASE_URL`` (the SQL store).

Size: every setting lives here with its help text (one frozen dataclass per area, plus loading and
validation), so that one file is the whole list of what can be set.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from medcore.analysis import BM25_B, BM25_K1
from medcore.errors import ConfigError
from medcore.models import default_model, default_rerank
from medcore.types import Mode

FusionMethod = Literal["rrf", "convex"]
IndexBackendName = Literal["faiss", "qdrant"]
EncoderName = Literal["torch", "onnx", "onnx-int8", "openvino", "openvino-bf16"]
AnnKind = Literal["ivf", "hnsw", "none"]
Bm25Backend = Literal["auto", "numpy", "numba"]


@dataclass(frozen=True)
class PathsSettings:
    home: Path = field(default=Path("medembed-data"), metadata={"help": "Data directory: store, indexes, caches."})
    database_url: str | None = field(
        default=None, metadata={"help": "SQLAlchemy URL of the store; default sqlite:///<home>/medembed.db."}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'medembed.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def eval_dir(self) -> Path:
        return self.home / "eval"


@dataclass(frozen=True)
class ChunkingSettings:
    max_tokens: int = field(default=200, metadata={"help": "Chunk size in the tokenizer's tokens (papers, PDFs)."})
    corpus_max_tokens: int = field(
        default=512,
        metadata={"help": "Chunk size for BEIR corpus entries: abstracts and answers are already passage-sized, and "
                  "splitting them costs BM25 quality (BENCHMARKS.md)."},
    )
    overlap_tokens: int = field(default=40, metadata={"help": "Tokens shared by consecutive chunks."})
    tokenizer: str = field(default="minilm", metadata={"help": "Registry name whose tokenizer sizes chunks."})

    def __post_init__(self) -> None:
        if min(self.max_tokens, self.corpus_max_tokens) < 16:
            raise ConfigError("chunking.max_tokens and corpus_max_tokens must be at least 16 (default 200, 512).")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ConfigError(
                f"chunking.overlap_tokens={self.overlap_tokens} must be >= 0 and below half of max_tokens "
                f"({self.max_tokens // 2})."
            )


@dataclass(frozen=True)
class IngestSettings:
    design_model: bool = field(
        default=True,
        metadata={"help": "Read the abstracts whose design no phrase names with the trained study-design model (it "
                          "loads the packaged MiniLM once per ingest). Off: phrase rules only, the rest 'Not "
                          "determined'."},
    )
    timeout_s: float = field(
        default=180.0,
        metadata={"help": "Per-file parse time limit in seconds; files are parsed in a child process that is killed "
                  "past it (a hanging or crashing PDF costs only that file). 0: parse in-process, no limit."},
    )
    max_memory_mb: int = field(
        default=4096, metadata={"help": "Address-space cap of the parser child process in MB (0: none)."}
    )
    max_text_chars: int = field(
        default=20_000_000,
        metadata={"help": "Most characters of text one file may yield (about 10,000 pages); a file past it is "
                          "refused by the parser before its text is handed over."},
    )

    def __post_init__(self) -> None:
        if self.timeout_s < 0 or self.max_memory_mb < 0:
            raise ConfigError("ingest.timeout_s and ingest.max_memory_mb must be >= 0 (0 turns the limit off).")
        if self.max_text_chars < 1000:
            raise ConfigError("ingest.max_text_chars must be at least 1000.")


@dataclass(frozen=True)
class IndexSettings:
    model: str = field(
        default_factory=default_model,
        metadata={"help": "Default embedding model (registry name or path): medembed-small where it is shipped, "
                          "else minilm."},
    )
    batch_size: int = field(default=64, metadata={"help": "Chunks per encoding batch."})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, or auto."})
    bm25_k1: float = field(default=BM25_K1, metadata={"help": "BM25 term-frequency saturation (tuned, NFCorpus dev)."})
    bm25_b: float = field(default=BM25_B, metadata={"help": "BM25 length normalisation (tuned on NFCorpus dev)."})
    title_in_text: bool = field(default=True, metadata={"help": "Prefix each chunk with its document title."})
    sentence_vectors: bool = field(
        default=True, metadata={"help": "Also embed each chunk's sentences at index time (faiss backend), so that "
                                        "marking key sentences costs no encoding at search time."})
    backend: IndexBackendName = field(
        default="faiss", metadata={"help": "faiss (bm25s + FAISS on this machine) or qdrant (see [qdrant])."}
    )
    # -- speed (BENCHMARKS.md "Performance") --
    encoder: EncoderName = field(
        default="openvino-bf16",
        metadata={"help": "What embeds chunks on CPU: torch, onnx, onnx-int8, openvino (fp32), openvino-bf16; the "
                          "model is exported to ONNX locally and cached in export_dir (GPU: always torch)."},
    )
    query_encoder: EncoderName = field(
        default="openvino-bf16", metadata={"help": "What embeds queries (same choices)."}
    )
    encoder_threads: int = field(default=0, metadata={"help": "Threads of the chunk encoder (0: all cores)."})
    query_threads: int = field(default=1, metadata={"help": "Threads of the query encoder (0: all cores)."})
    export_dir: Path | None = field(
        default=None,
        metadata={"help": "Cache of ONNX exports; default <models.cache_dir>/medembed-exports, else "
                          "~/.cache/medembed/exports."},
    )
    ann: AnnKind = field(
        default="hnsw", metadata={"help": "Approximate dense search past ann_threshold chunks: hnsw, ivf or none."}
    )
    ann_threshold: int = field(default=50_000, metadata={"help": "Exact FAISS search up to this many chunks."})
    ann_nlist: int = field(default=0, metadata={"help": "IVF lists (0: 4 * sqrt(chunks), rounded to 2^k)."})
    ann_nprobe: int = field(default=128, metadata={"help": "IVF lists searched per query."})
    ann_hnsw_m: int = field(default=32, metadata={"help": "HNSW links per node."})
    ann_ef_search: int = field(default=256, metadata={"help": "HNSW search depth (its recall: BENCHMARKS.md)."})
    bm25_backend: Bm25Backend = field(
        default="auto", metadata={"help": "bm25s scoring: numpy, numba, or auto (numba past bm25_numba_min_chunks)."}
    )
    bm25_numba_min_chunks: int = field(
        default=20_000, metadata={"help": "auto uses numba (a few seconds of JIT once per process) from this size."}
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("index.batch_size must be at least 1.")
        if min(self.encoder_threads, self.query_threads, self.ann_nlist) < 0:
            raise ConfigError("index.encoder_threads, index.query_threads and index.ann_nlist must be >= 0.")
        if min(self.ann_threshold, self.ann_nprobe, self.ann_hnsw_m, self.ann_ef_search) < 1:
            raise ConfigError("index.ann_threshold, ann_nprobe, ann_hnsw_m and ann_ef_search must be >= 1.")


@dataclass(frozen=True)
class SearchSettings:
    mode: Mode = field(default="hybrid", metadata={"help": "bm25, dense or hybrid (medcore.retrievers)."})
    fusion: FusionMethod = field(
        default="convex",
        metadata={"help": "rrf or convex (min-max normalised scores, dense weight alpha). Convex 0.6 was chosen with "
                          "medembed-small on the dev splits of six medical sets, each weighing the same: every RRF "
                          "weight fell below it (BENCHMARKS.md, fusion choice)."}
    )
    rrf_k: int = field(default=60, metadata={"help": "Reciprocal rank fusion constant."})
    dense_weight: float = field(default=1.0, metadata={"help": "Weight of the dense run in RRF (BM25's is 1)."})
    alpha: float = field(default=0.6, metadata={"help": "Dense weight in convex fusion (bm25 gets 1 - alpha)."})
    per_doc_cap: int = field(default=2, metadata={"help": "At most this many chunks of one document per result list."})
    candidates: int = field(default=100, metadata={"help": "Candidates each retriever contributes to fusion."})
    key_sentences: bool = field(
        default=True,
        metadata={"help": "Mark each shown passage's sentence closest to the query (index.model), from the sentence "
                          "vectors made at index time (index.sentence_vectors); an index without them embeds a "
                          "bounded number of sentences per search instead (about a second on 2 cores)."})
    expand_abbreviations: bool = field(
        default=True, metadata={"help": "Add the library's long form of a query's abbreviations to the BM25 query."})
    expand_drug_names: bool = field(
        default=True, metadata={"help": "Add the generic name of a drug the query names by a brand or other name "
                                        "(Norvasc: amlodipine) to what BM25, the dense model and the reranker read."})
    # On where the reranker is shipped and the CPU computes bf16 natively: the latency budget, not quality, decides
    # (medcore.models.default_rerank_choice says why on this machine).
    rerank: bool = field(
        default_factory=default_rerank,
        metadata={"help": "Rescore the first stage's top rerank_depth candidates with the reranker (a cross-encoder). "
                          "Default: on where models/medembed-rerank is shipped and the CPU computes bf16 natively "
                          "(AVX512-BF16 or AMX), where it adds about 0.25 s a search; off elsewhere (about 0.7 s)."})
    reranker: str = field(
        default="medembed-rerank",
        metadata={"help": "Reranker: medembed-rerank (models/), a `medembed train-reranker` folder, or a hub id."})
    rerank_depth: int = field(default=30, metadata={"help": "First-stage candidates the reranker rescores."})
    rerank_weight: float = field(
        default=0.3,
        metadata={"help": "Weight of the reranker's min-max normalised score against the first stage's (convex; "
                          "1: the reranker alone). 0.3 was chosen on the breadth dev set (BENCHMARKS.md)."})
    # 128 tokens, not the 192 it was trained at: 0.64x the compute, and the six-set dev mean moves by -0.0009
    # (BENCHMARKS.md, "128 tokens and the reranker on by default"). OpenVINO bf16: int8 weights in ONNX Runtime
    # (onnx-int8) kept dev nDCG but cost 1.6x the compute of bf16 on an AVX512-BF16 CPU.
    rerank_max_length: int = field(default=128, metadata={"help": "Tokens of query and passage the reranker reads."})
    rerank_encoder: EncoderName = field(
        default="openvino-bf16",
        metadata={"help": "What runs the reranker on a CPU (as index.encoder; onnx-int8: int8 weights)."})
    rerank_threads: int = field(default=0, metadata={"help": "Threads of the reranker (0: all cores)."})

    def __post_init__(self) -> None:
        if self.dense_weight < 0:
            raise ConfigError(f"search.dense_weight={self.dense_weight} must be >= 0.")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"search.alpha={self.alpha} must be between 0 and 1.")
        if self.per_doc_cap < 1 or self.candidates < 1 or self.rrf_k < 0:
            raise ConfigError("search.per_doc_cap and search.candidates must be >= 1, search.rrf_k >= 0.")
        if not 0.0 <= self.rerank_weight <= 1.0 or self.rerank_depth < 1 or self.rerank_max_length < 16:
            raise ConfigError("search.rerank_weight must be between 0 and 1, search.rerank_depth >= 1 and "
                              "search.rerank_max_length >= 16.")


@dataclass(frozen=True)
class QdrantSettings:
    url: str | None = field(
        default=None,
        metadata={"help": "Qdrant server URL (http://qdrant:6333); unset: embedded local mode under <home>/qdrant."},
    )
    path: Path | None = field(default=None, metadata={"help": "Local-mode storage folder; default <home>/qdrant."})
    api_key_env: str = field(default="QDRANT_API_KEY", metadata={"help": "Environment variable holding the key."})
    collection_prefix: str = field(default="medembed", metadata={"help": "Collections are named <prefix>-<model>."})
    shards: int = field(default=1, metadata={"help": "Shards per collection (server mode; one per node or more)."})
    replicas: int = field(default=1, metadata={"help": "Copies of each shard (server mode; 2+ to survive a node)."})
    write_consistency: int = field(default=1, metadata={"help": "Replicas that must confirm a write (server mode)."})
    on_disk: bool = field(default=False, metadata={"help": "Keep vectors on disk (memory-mapped), not in RAM."})
    quantization: Literal["none", "scalar", "binary"] = field(
        default="none", metadata={"help": "Dense vector quantisation in the engine (int8 scalar or binary)."}
    )
    timeout_s: float = field(default=60.0, metadata={"help": "Per-request timeout (server mode)."})
    bm25_avgdl_tolerance: float = field(
        default=0.02, metadata={"help": "Reweight all BM25 vectors when the average chunk length drifts past this."}
    )
    reuse_local_vectors: bool = field(
        default=True, metadata={"help": "Copy vectors from this home's FAISS index instead of encoding again."}
    )

    def __post_init__(self) -> None:
        if self.shards < 1 or self.replicas < 1 or not 1 <= self.write_consistency <= self.replicas:
            raise ConfigError("qdrant.shards and qdrant.replicas must be >= 1, and qdrant.write_consistency between "
                              "1 and qdrant.replicas.")


@dataclass(frozen=True)
class ModelsSettings:
    allow_download: bool = field(
        default=False, metadata={"help": "Let hub names (BAAI/..., abhinand/...) download when not cached."}
    )
    cache_dir: Path | None = field(default=None, metadata={"help": "Hugging Face cache folder to look in."})


@dataclass(frozen=True)
class LLMSettings:
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible API base URL, e.g. vLLM's."})
    model: str = field(default="meta-llama/Llama-3.1-70B-Instruct", metadata={"help": "Model name served there."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the key."})
    timeout_s: float = field(default=60.0, metadata={"help": "Per-request timeout."})


TrainLoss = Literal["mnrl", "cached_mnrl"]
TrainPrecision = Literal["auto", "fp32", "fp16", "bf16"]
TrainBackend = Literal["auto", "trainer", "torch"]
DistillRows = Literal["all", "agree"]


@dataclass(frozen=True)
class TrainSettings:
    base_model: str = field(default="minilm", metadata={"help": "Registry name or folder of the model to fine-tune."})
    batch_size: int = field(default=32, metadata={"help": "Triplets per step (in-batch negatives grow with it)."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the triplets."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak AdamW learning rate."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Fraction of steps with linear warmup."})
    max_seq_length: int = field(default=256, metadata={"help": "Tokens kept per passage while training."})
    query_max_length: int = field(
        default=64, metadata={"help": "Tokens kept per query while training (queries are short; padding them to the "
                                      "passage length costs time for nothing)."}
    )
    hard_negatives: bool = field(
        default=True, metadata={"help": "Train on (query, positive, negative); false: (query, positive) pairs with "
                                        "in-batch negatives only (half the passages to encode per example)."}
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch passages of similar length together so that less padding is paid for."}
    )
    freeze_embeddings: bool = field(default=False, metadata={"help": "Keep the word embeddings fixed."})
    freeze_layers: int = field(default=0, metadata={"help": "Keep the lowest N transformer layers fixed."})
    loss: TrainLoss = field(default="mnrl", metadata={"help": "mnrl, or cached_mnrl (GradCache) for large batches."})
    mini_batch_size: int = field(default=32, metadata={"help": "cached_mnrl's mini-batch (memory, not result)."})
    precision: TrainPrecision = field(
        default="auto", metadata={"help": "auto: bf16/fp16 on GPU; on CPU bf16 autocast where the CPU has native bf16 "
                                          "(AVX512-BF16 or AMX), else fp32."}
    )
    backend: TrainBackend = field(
        default="auto", metadata={"help": "trainer (needs datasets, accelerate), torch (plain loop), or auto."}
    )
    distill_from: str = field(
        default="", metadata={"help": "A stronger embedding model (registry name or folder) whose in-batch ranking "
                                      "the student also learns (trainer.distill); empty: no teacher."}
    )
    distill_weight: float = field(default=1.0, metadata={"help": "Weight of the teacher's KL term beside the ranking "
                                                                 "loss."})
    distill_rows: DistillRows = field(
        default="all", metadata={"help": "all: learn the teacher's ranking for every query; agree: only for the "
                                         "queries where the teacher ranks the labelled positive first."}
    )
    save_steps: int = field(default=500, metadata={"help": "Checkpoint every this many steps."})
    seed: int = field(default=42, metadata={"help": "Shuffling, sampling and initialisation seed."})
    dev_queries: int = field(default=200, metadata={"help": "Dev queries sampled per dev dataset."})
    dev_corpus: int = field(default=2000, metadata={"help": "Distractor documents per dev dataset."})

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise ConfigError(f"train.batch_size={self.batch_size} is too small; in-batch negatives need 2 or more.")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"train.warmup_ratio={self.warmup_ratio} must be in [0, 1).")
        if (self.epochs <= 0 or self.learning_rate <= 0 or min(self.max_seq_length, self.query_max_length) < 8
                or self.mini_batch_size < 1 or self.freeze_layers < 0 or self.distill_weight < 0):
            raise ConfigError("train.epochs and train.learning_rate must be > 0, train.max_seq_length and "
                              "train.query_max_length >= 8, train.mini_batch_size >= 1, train.freeze_layers >= 0, "
                              "train.distill_weight >= 0.")


@dataclass(frozen=True)
class BenchmarksSettings:
    dir: Path | None = field(
        default=None,
        metadata={"help": "Folder of BEIR benchmark folders (nfcorpus/, medquad/) and reference_results/; "
                          "unset: the MedQuAD sample in samples/benchmarks."},
    )


AuthRoleDefault = Literal["reader", "none"]


@dataclass(frozen=True)
class AuthSettings:
    """Sign-in and roles (docs/deploy.md, "Access control"). Secrets never live here: only the names of the
    environment variables that hold them."""

    allow_open: bool = field(
        default=False,
        metadata={"help": "Serve without sign-in even when reachable from other machines (bound beyond localhost, or "
                          "auth.deployment); only behind another gate you trust."},
    )
    deployment: bool = field(
        default=False,
        metadata={"help": "A deployment (docker-compose sets it): refuse to start without accounts or OIDC unless "
                          "auth.allow_open."},
    )
    session_minutes: int = field(default=480, metadata={"help": "A sign-in lasts at most this long."})
    idle_minutes: int = field(default=60, metadata={"help": "A session left unused this long must sign in again."})
    backoff_after: int = field(
        default=3, metadata={"help": "Failed sign-ins (per user name and per client) before each next try must wait."}
    )
    backoff_base_s: float = field(
        default=2.0, metadata={"help": "The first wait after backoff_after failures; doubles with each further one."}
    )
    backoff_max_s: float = field(default=300.0, metadata={"help": "The longest wait between two sign-in tries."})
    user_backoff_max_s: float = field(
        default=30.0,
        metadata={"help": "The longest wait that failures from other computers impose on a user name: the waits above "
                          "hold per (user name, computer) and per computer; per user name alone they stop at this, so "
                          "nobody can lock a user out by guessing from elsewhere."},
    )
    trust_proxy_headers: bool = field(
        default=False,
        metadata={"help": "Replaced by auth.trusted_proxies (trusting every client's X-Forwarded-For let anyone pick "
                          "their throttle address); setting it true is an error that says what to set instead."},
    )
    trusted_proxies: str = field(
        default="",
        metadata={"help": "Comma-separated addresses or networks of your own reverse proxies (e.g. 127.0.0.1, "
                          "10.0.0.0/8). Only a request from one of them has its X-Forwarded-For and "
                          "X-Forwarded-Proto read; the client is the right-most hop that is not one of them."},
    )
    oidc_client_id: str | None = field(
        default=None, metadata={"help": "OpenID Connect client id; setting it turns on sign-in with the provider."}
    )
    oidc_server_metadata_url: str | None = field(
        default=None, metadata={"help": "The provider's https://.../.well-known/openid-configuration URL."}
    )
    oidc_redirect_uri: str | None = field(
        default=None, metadata={"help": "This app's callback as the provider knows it: https://HOST/oauth2callback."}
    )
    oidc_provider_name: str = field(default="single sign-on", metadata={"help": "Shown on the sign-in button."})
    oidc_client_secret_env: str = field(
        default="MEDEMBED_OIDC_CLIENT_SECRET", metadata={"help": "Environment variable holding the client secret."}
    )
    cookie_secret_env: str = field(
        default="MEDEMBED_COOKIE_SECRET",
        metadata={"help": "Environment variable holding the key that signs the sign-in cookie (32+ random bytes)."},
    )
    admin_emails: str = field(default="", metadata={"help": "Comma-separated verified OIDC e-mails that are admins."})
    curator_emails: str = field(
        default="", metadata={"help": "Comma-separated verified OIDC e-mails that are curators."}
    )
    role_claim: str = field(
        default="", metadata={"help": "ID-token claim listing roles or groups (e.g. groups); <prefix><role> maps."}
    )
    role_claim_prefix: str = field(
        default="", metadata={"help": "Prefix of role_claim values, e.g. medembed- for medembed-curator."}
    )
    default_role: AuthRoleDefault = field(
        default="reader", metadata={"help": "Role of any other OIDC user: reader admits every account the provider "
                                            "signs in; none refuses them."}
    )

    def __post_init__(self) -> None:
        if min(self.session_minutes, self.idle_minutes, self.backoff_after) < 1:
            raise ConfigError("auth.session_minutes, auth.idle_minutes and auth.backoff_after must be at least 1.")
        if self.user_backoff_max_s < 0:
            raise ConfigError("auth.user_backoff_max_s must be >= 0.")
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ConfigError("auth.backoff_base_s must be >= 0 and auth.backoff_max_s >= auth.backoff_base_s.")
        if self.trust_proxy_headers:
            raise ConfigError("auth.trust_proxy_headers is replaced by auth.trusted_proxies: list the address of your "
                              "reverse proxy (MEDEMBED_AUTH_TRUSTED_PROXIES=127.0.0.1 for a proxy on this host, or "
                              "its network, e.g. 172.16.0.0/12 in Docker) and remove trust_proxy_headers.")
        for entry in filter(None, (e.strip() for e in self.trusted_proxies.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"auth.trusted_proxies: {entry!r} is not an IP address or network; use e.g. "
                                  "127.0.0.1, ::1 or 10.0.0.0/8.") from None
        if self.oidc_client_id and not (self.oidc_server_metadata_url and self.oidc_redirect_uri):
            raise ConfigError("auth.oidc_client_id is set: also set auth.oidc_server_metadata_url (the provider's "
                              ".well-known/openid-configuration URL) and auth.oidc_redirect_uri "
                              "(https://HOST/oauth2callback).")


_SECTIONS = {
    "paths": PathsSettings,
    "chunking": ChunkingSettings,
    "ingest": IngestSettings,
    "index": IndexSettings,
    "search": SearchSettings,
    "qdrant": QdrantSettings,
    "models": ModelsSettings,
    "llm": LLMSettings,
    "train": TrainSettings,
    "benchmarks": BenchmarksSettings,
    "auth": AuthSettings,
}

_SHORT_ENV = {"MEDEMBED_HOME": ("paths", "home"), "MEDEMBED_DATABASE_URL": ("paths", "database_url")}


@dataclass(frozen=True)
class Settings:
    paths: PathsSettings = field(default_factory=PathsSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    qdrant: QdrantSettings = field(default_factory=QdrantSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    benchmarks: BenchmarksSettings = field(default_factory=BenchmarksSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build from ``{section: {key: value}}``; unknown sections or keys are an error, not ignored."""
        sections: dict[str, Any] = {}
        for name, values in data.items():
            if name not in _SECTIONS:
                raise ConfigError(f"Unknown settings section [{name}]; known: {', '.join(_SECTIONS)}.")
            if not isinstance(values, dict):
                raise ConfigError(f"Settings section [{name}] must be a table of key = value.")
            sections[name] = _build_section(name, values)
        return cls(**sections)

    @classmethod
    def from_toml(cls, path: Path | None = None, environ: typing.Mapping[str, str] | None = None) -> Settings:
        """Defaults, then the TOML file (if any), then ``MEDEMBED_*`` environment overrides."""
        data: dict[str, dict[str, Any]] = {}
        if path is not None:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"Settings file {path} does not exist; create it or drop --config.") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"Settings file {path} is not valid TOML: {exc}") from None
        environ = os.environ if environ is None else environ
        for section, key, value in _env_overrides(environ):
            data.setdefault(section, {})[key] = value
        settings = cls.from_dict(data)
        _check_unknown_env(environ, settings)
        return settings

    @classmethod
    def load(cls) -> Settings:
        """Settings as the CLI and the UI see them: ``MEDEMBED_CONFIG`` file if set, then the environment."""
        config = os.environ.get("MEDEMBED_CONFIG")
        return cls.from_toml(Path(config) if config else None)

    def with_home(self, home: Path, database_url: str | None = None) -> Settings:
        """A copy rooted at another data directory (used for per-dataset evaluation stores)."""
        return replace(self, paths=PathsSettings(home=home, database_url=database_url))

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values with every secret masked (:func:`redact_secrets`): this dict is logged,
        shown on the Settings page and written beside trained models, never read back."""
        return redact_secrets(json.loads(json.dumps(dataclasses.asdict(self), default=str)))


MASK = "***"
#: Field and query-parameter names whose values are secrets (``*_env`` fields hold a variable's name, not a secret).
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "pass", "secret", "token", "apikey", "credential",
                           "credentials", "signature", "sig", "sslpassword", "passphrase"})
_SECRET_PAIRS = ("api_key", "private_key", "access_key", "client_secret", "access_token", "auth_token")


def _secret_name(name: str) -> bool:
    lower = name.lower().replace("-", "_")
    if lower.endswith("_env"):
        return False
    return bool(set(lower.split("_")) & _SECRET_WORDS) or any(pair in lower for pair in _SECRET_PAIRS)


def redact_secrets(data: Any, key: str = "") -> Any:
    """``data`` (nested dicts and lists of JSON values) with each secret-named field's value masked and every URL
    redacted (:func:`redact_url`)."""
    if isinstance(data, dict):
        return {k: redact_secrets(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_secrets(v, key) for v in data]
    if isinstance(data, str) and data and _secret_name(key):
        return MASK
    if isinstance(data, str) and "://" in data:
        return redact_url(data)
    return data


def redact_url(url: str | None) -> str | None:
    """``url`` fit for logs and pages: the password of its userinfo (or the whole userinfo when it is one token)
    and the values of password-like query parameters replaced by ``***``.

    Example: ``postgresql+psycopg://medembed:s3cret@db:5432/medembed`` becomes
    ``postgresql+psycopg://medembed:***@db:5432/medembed``, and ``postgresql://db/x?user=me&password=s3cret``
    becomes ``postgresql://db/x?user=me&password=***``.
    """
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    netloc_end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    userinfo, at, host = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    path, question, query = tail.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        parts = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            parts.append(f"{name}={MASK}" if eq and value and _secret_name(unquote(name)) else pair)
        path = f"{path}?{'&'.join(parts)}{hash_}{fragment}"
    return f"{scheme}://{netloc}{path}"


def _build_section(name: str, values: dict[str, Any]) -> Any:
    cls = _SECTIONS[name]
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"Unknown key(s) {sorted(unknown)} in [{name}]; known keys: {sorted(known)}.")
    kwargs = {key: _coerce(f"{name}.{key}", hints[key], value) for key, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"Invalid [{name}] settings: {exc}") from None


def _coerce(where: str, hint: Any, value: Any) -> Any:
    """Turn TOML or environment strings into the annotated type, or raise a ConfigError saying what was expected."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null")):
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        if value not in args:
            raise ConfigError(f"{where}={value!r} is not one of {list(args)}.")
        return value
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint in (int, float, str, Path):
            return hint(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} is not a valid {getattr(hint, '__name__', hint)}.") from None
    return value


#: ``MEDEMBED_*`` variables that are not settings: read by the deployment files and scripts (compose, Docker, the
#: demo), the secrets the ``*_env`` settings name by default, or the test suite. Any other ``MEDEMBED_*`` name that
#: is no setting (nor named by a ``*_env`` setting) is a typo and an error.
OTHER_ENV = frozenset({
    "MEDEMBED_CONFIG", "MEDEMBED_COOKIE_SECRET", "MEDEMBED_OIDC_CLIENT_SECRET",
    "MEDEMBED_BIND", "MEDEMBED_PORT", "MEDEMBED_INBOX", "MEDEMBED_UID", "MEDEMBED_DATA",
    "MEDEMBED_IMAGE", "MEDEMBED_GPU", "MEDEMBED_GPU_IMAGE", "MEDEMBED_COMPOSE", "MEDEMBED_WHEEL_CACHE",
    "MEDEMBED_WATCH_INTERVAL", "MEDEMBED_BROWSER", "MEDEMBED_FIGURES_DIR", "MEDEMBED_FUZZ_EXAMPLES",
    "MEDEMBED_FUZZ_SECONDS", "MEDEMBED_KILLS", "MEDEMBED_KILL_SEED", "MEDEMBED_LOAD_SECONDS",
    "MEDEMBED_TEST_LLM_DIR", "MEDEMBED_TEST_LLM_THREADS", "MEDEMBED_TEST_PG_URL",
})


def env_names() -> list[str]:
    """Every ``MEDEMBED_*`` variable that sets a setting, e.g. ``MEDEMBED_SEARCH_MODE``."""
    names = [*_SHORT_ENV]
    for section, cls in _SECTIONS.items():
        names += [f"MEDEMBED_{section}_{f.name}".upper() for f in fields(cls)]
    return names


def _check_unknown_env(environ: typing.Mapping[str, str], settings: Settings) -> None:
    """Raise a ConfigError naming each ``MEDEMBED_*`` variable that is neither a setting, nor one of
    :data:`OTHER_ENV`, nor a variable a ``*_env`` setting names (where a secret is kept)."""
    named = {getattr(getattr(settings, s), f.name) for s, cls in _SECTIONS.items() for f in fields(cls)
             if f.name.endswith("_env")}
    sections = tuple(f"MEDEMBED_{s.upper()}_" for s in _SECTIONS)
    unknown = sorted(v for v in environ if v.startswith("MEDEMBED_") and not v.startswith(sections)
                     and v not in _SHORT_ENV and v not in OTHER_ENV and v not in named)
    if unknown:
        hints = [f"{v} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(v, env_names(), 1))
                 else v for v in unknown]
        raise ConfigError(f"Unknown environment variable(s): {', '.join(hints)}. A MEDEMBED_* variable sets a "
                          "setting (MEDEMBED_<SECTION>_<KEY>, e.g. MEDEMBED_SEARCH_MODE); fix or unset it.")


def _env_overrides(environ: typing.Mapping[str, str]) -> list[tuple[str, str, str]]:
    out = []
    for var, value in environ.items():
        if not var.startswith("MEDEMBED_") or var == "MEDEMBED_CONFIG":
            continue
        if var in _SHORT_ENV:
            out.append((*_SHORT_ENV[var], value))
            continue
        rest = var[len("MEDEMBED_") :].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                out.append((section, rest[len(section) + 1 :], value))
                break
    return out
