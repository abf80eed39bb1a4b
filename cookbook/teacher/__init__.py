"""The teacher: an OpenAI-compatible client with a resumable cache, and local servers.

    from cookbook.teacher import TeacherConfig, generate, swift_deploy

    with swift_deploy(model_dir) as server:                      # or any hosted API
        config = TeacherConfig(base_url=server.base_url, model=server.model_name)
        results = generate(prompts, config, cache=run.stage_dir("teacher") / "cache.jsonl")

Modules: config (endpoint, key variable, limits, prices), records (requests, results,
cache keys), reasoning (reasoning field or <think> block), retry (what is retried, how
long to wait), endpoints (several servers of one teacher), cache (the append-only JSON-lines
file), progress (the bar), sync (running from a notebook), client (the run), server (swift
deploy / vllm serve as a subprocess).
"""

from cookbook.teacher.cache import ResultCache, load_results
from cookbook.teacher.client import TeacherClient, agenerate, generate
from cookbook.teacher.config import MissingApiKey, TeacherConfig
from cookbook.teacher.requests import Result
from cookbook.teacher.server import LocalServer, ServerFailed, free_port, swift_deploy, vllm_serve

__all__ = [
    "LocalServer", "MissingApiKey", "Result", "ResultCache", "ServerFailed", "TeacherClient", "TeacherConfig",
    "agenerate", "free_port", "generate", "load_results", "swift_deploy", "vllm_serve",
]
