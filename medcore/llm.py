"""A thread-safe OpenAI-compatible chat client, shared by `generate` and Ask; retries are the openai client's own."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from medcore.errors import LLMError

if TYPE_CHECKING:
    from medcore.config import LLMSettings

logger = logging.getLogger(__name__)

#: Where ``generate`` and ``adapt`` look for a server when none is configured: vLLM's default port on this machine.
LOCAL_SERVER = "http://localhost:8000/v1"


class LLMClient:
    """A thread-safe wrapper over ``openai.OpenAI`` with a reachability check and counts of requests and retries.

    Args:
        base_url: the server's ``/v1`` URL; model: the served model name; api_key: any string for local servers.
        max_retries: how often the openai client retries connection errors, timeouts, 408/409/429 and 5xx (its own
            exponential backoff with jitter).
        json_mode: ask for ``response_format={"type": "json_object"}`` (vLLM, llama.cpp); dropped automatically
            if the server rejects it.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", timeout_s: float = 60.0,
                 max_retries: int = 4, temperature: float = 0.7, max_tokens: int = 700,
                 json_mode: bool = True, seed: int | None = None) -> None:
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - openai is a core dependency
            raise LLMError("The openai package is missing: pip install 'openai>=1.40'.") from exc
        self.base_url, self.model = base_url, model
        self.max_retries = max_retries
        self.temperature, self.max_tokens, self.json_mode, self.seed = temperature, max_tokens, json_mode, seed
        self._bad_request = openai.BadRequestError
        self._lock = threading.Lock()
        self.requests = 0  # chat calls
        self._attempts = 0  # HTTP requests to the chat endpoint, retries included
        # Tokens the server reports having read and written: what a CPU-bound run is paid in.
        self.prompt_tokens = 0
        self.completion_tokens = 0
        http_client = openai.DefaultHttpxClient(event_hooks={"request": [self._count_attempt]})
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s,
                                     max_retries=max_retries, http_client=http_client)

    def _count_attempt(self, request: Any) -> None:  # noqa: ANN401 - an httpx.Request
        if request.url.path.endswith("/chat/completions"):
            with self._lock:
                self._attempts += 1

    @property
    def retries(self) -> int:
        """Requests the openai client sent again after a failure."""
        with self._lock:
            return max(0, self._attempts - self.requests)

    def check(self) -> list[str]:
        """The served model ids; raises :class:`LLMError` saying how to start a server when none answers."""
        try:
            return [m.id for m in self._client.models.list()]
        except Exception as exc:  # noqa: BLE001 - any failure here means "not usable"
            raise LLMError(
                f"Cannot reach the LLM server at {self.base_url} ({type(exc).__name__}: {exc}). Start an "
                "OpenAI-compatible server there (e.g. `vllm serve meta-llama/Llama-3.1-70B-Instruct`, or "
                "`python -m llama_cpp.server --model M.gguf`) or pass --base-url / set MEDEMBED_LLM_BASE_URL."
            ) from None

    def chat(self, messages: list[dict[str, str]]) -> str:
        """The reply text (the openai client retries failed requests, up to ``max_retries`` times)."""
        with self._lock:
            self.requests += 1
        try:
            return self._create(messages)
        except self._bad_request as exc:
            if not (self.json_mode and "response_format" in str(exc)):
                raise
            logger.warning("The server rejects response_format; asking for JSON in the prompt only.")
            self.json_mode = False
            return self.chat(messages)

    def _create(self, messages: list[dict[str, str]]) -> str:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                  "max_tokens": self.max_tokens}
        if self.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if self.seed is not None:
            kwargs["seed"] = self.seed
        response = self._client.chat.completions.create(**kwargs)
        usage = getattr(response, "usage", None)
        with self._lock:
            self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
            self.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        try:
            return response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):  # HTML from a proxy, plain text, JSON of another shape
            raise LLMError(f"The server at {self.base_url} did not answer with an OpenAI chat completion (it sent "
                           f"{str(response)[:80]!r}); check that the base URL points at the /v1 of an "
                           "OpenAI-compatible server.") from None


def llm_client(llm: LLMSettings, base_url: str | None = None, model: str | None = None,
               timeout_s: float | None = None, **options: Any) -> LLMClient:
    """A client for the configured LLM (``settings.llm``, its key read from ``llm.api_key_env``), with a command
    line's overrides; ``options`` (retries, sampling, JSON mode, seed) go to :class:`LLMClient`."""
    return LLMClient(base_url or llm.base_url or LOCAL_SERVER, model or llm.model,
                     os.environ.get(llm.api_key_env, "EMPTY"), timeout_s or llm.timeout_s, **options)
