"""The seed's LEARNING_PATTERNS taxonomy and how raw signals map onto it.

Events carry free-form indicator strings (``security_warnings``, ``style_issues``)
and typed errors. Every finding the pipeline reports is filed under one
``category/subtype`` of this taxonomy so that insights and improvements speak one
vocabulary; signals the taxonomy does not know are kept as ``unclassified``
rather than dropped, so a new failure mode is still visible.
"""

from __future__ import annotations

from dataclasses import dataclass

LEARNING_PATTERNS: dict[str, dict[str, dict[str, object]]] = {
    "security": {
        "input_validation": {
            "description": "Patterns for validating user input",
            "indicators": ["sql injection", "xss", "command injection"],
            "improvements": ["add validation", "parameterize queries", "escape output"],
        },
        "authentication": {
            "description": "Authentication and authorization patterns",
            "indicators": ["missing auth", "weak tokens", "no rate limiting"],
            "improvements": ["add JWT", "implement OAuth", "add rate limiting"],
        },
        "data_protection": {
            "description": "Data security patterns",
            "indicators": ["plain text passwords", "exposed keys", "no encryption"],
            "improvements": ["hash passwords", "use env vars", "encrypt sensitive data"],
        },
    },
    "quality": {
        "error_handling": {
            "description": "Proper error handling patterns",
            "indicators": ["generic catches", "no error context", "exposed stack traces"],
            "improvements": ["specific error types", "add context", "user-friendly messages"],
        },
        "code_structure": {
            "description": "Code organization patterns",
            "indicators": ["long functions", "deep nesting", "code duplication"],
            "improvements": ["extract functions", "reduce complexity", "DRY principle"],
        },
        "documentation": {
            "description": "Documentation patterns",
            "indicators": ["missing docstrings", "no comments", "unclear names"],
            "improvements": ["add docstrings", "explain complex logic", "descriptive names"],
        },
    },
    "performance": {
        "optimization": {
            "description": "Performance optimization patterns",
            "indicators": ["n+1 queries", "no caching", "inefficient algorithms"],
            "improvements": ["batch queries", "add caching", "optimize algorithms"],
        },
        "scalability": {
            "description": "Scalability patterns",
            "indicators": ["stateful design", "no pagination", "synchronous only"],
            "improvements": ["stateless design", "add pagination", "async support"],
        },
    },
    "prompt_optimization": {
        "clarity": {
            "description": "Prompt clarity patterns",
            "indicators": ["ambiguous instructions", "missing context", "unclear goals"],
            "improvements": ["specific instructions", "add examples", "clear objectives"],
        },
        "efficiency": {
            "description": "Prompt efficiency patterns",
            "indicators": ["redundant text", "verbose instructions", "repeated context"],
            "improvements": ["concise language", "structured format", "reference context"],
        },
    },
}

# Error types the platform reports, filed under the subtype whose improvements
# address them. A timeout is a performance/scalability problem (the seed's
# adaptive timeouts live there); a syntax error is a code-structure problem.
ERROR_TYPES: dict[str, tuple[str, str]] = {
    "timeout": ("performance", "scalability"),
    "resource_exhausted": ("performance", "optimization"),
    "syntax_error": ("quality", "code_structure"),
    "test_failure": ("quality", "code_structure"),
    "runtime_error": ("quality", "error_handling"),
    "validation_error": ("security", "input_validation"),
    "auth_error": ("security", "authentication"),
    "context_overflow": ("prompt_optimization", "efficiency"),
    "misunderstood_task": ("prompt_optimization", "clarity"),
}

UNCLASSIFIED = ("unclassified", "unclassified")


@dataclass(frozen=True)
class Classification:
    category: str
    subtype: str

    @property
    def known(self) -> bool:
        return self.category != UNCLASSIFIED[0]

    @property
    def improvements(self) -> list[str]:
        if not self.known:
            return []
        return list(LEARNING_PATTERNS[self.category][self.subtype]["improvements"])

    @property
    def description(self) -> str:
        if not self.known:
            return "Signal outside the LEARNING_PATTERNS taxonomy"
        return str(LEARNING_PATTERNS[self.category][self.subtype]["description"])


def _indicator_index() -> dict[str, Classification]:
    index: dict[str, Classification] = {}
    for category, subtypes in LEARNING_PATTERNS.items():
        for subtype, spec in subtypes.items():
            for indicator in spec["indicators"]:
                index[normalize_signal(indicator)] = Classification(category, subtype)
    return index


def normalize_signal(text: str) -> str:
    """Indicators arrive in any case and spacing; compare them folded."""
    return " ".join(text.lower().replace("_", " ").split())


_INDICATORS = _indicator_index()


def classify_indicator(indicator: str) -> Classification:
    return _INDICATORS.get(normalize_signal(indicator), Classification(*UNCLASSIFIED))


def classify_error(error_type: str) -> Classification:
    key = normalize_signal(error_type).replace(" ", "_")
    return Classification(*ERROR_TYPES.get(key, UNCLASSIFIED))
