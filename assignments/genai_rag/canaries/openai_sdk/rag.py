"""A RAG pipeline written the usual way: OpenAI embeddings for retrieval, an OpenAI chat model
for the answer, through the `openai` SDK. No network code of its own: the SDK reads
OPENAI_BASE_URL and OPENAI_API_KEY from the environment (the sandbox's model gateway).

1. Articles are split into paragraphs; each paragraph, prefixed with its article's title, is
   embedded (batches of 64 per request), and so is each question.
2. The three paragraphs closest to the question (cosine) are the contexts, best first.
3. The chat model answers from those contexts; a yes/no question gets "Yes"/"No" in front.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
from openai import OpenAI

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))
CHAT_MODEL = "gpt-4o-mini"
EMBED_MODEL = "text-embedding-3-small"
TOP = 3
AUX = set("is was are were do does did can could has have had will would should".split())

client = OpenAI()


def embed(texts: list[str]) -> np.ndarray:
    vectors = []
    for start in range(0, len(texts), 64):
        reply = client.embeddings.create(model=EMBED_MODEL, input=texts[start:start + 64])
        vectors.extend(item.embedding for item in reply.data)
    matrix = np.array(vectors, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)


def main() -> None:
    corpus = {p.relative_to(DATA_DIR / "corpus").as_posix()[:-4]: p.read_text(encoding="utf-8")
              for p in sorted((DATA_DIR / "corpus").rglob("*.txt"))}
    chunks = []
    for doc_id, text in corpus.items():
        title = text.strip().splitlines()[0]
        for block in re.split(r"\n\s*\n", text):
            if len(block.split()) >= 5:
                chunks.append((doc_id, title, " ".join(block.split())))
    chunk_vectors = embed([f"{title}. {title}. {body}" for _, title, body in chunks])
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    question_vectors = embed([q["question"] for q in questions])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q, vector in zip(questions, question_vectors):
            best = np.argsort(-(chunk_vectors @ vector))[:TOP]
            contexts = [{"doc_id": chunks[i][0], "text": chunks[i][2]} for i in best]
            context_text = "\n\n".join(c["text"] for c in contexts)
            reply = client.chat.completions.create(
                model=CHAT_MODEL, temperature=0, max_tokens=60,
                messages=[{"role": "system", "content": "Answer in a few words using only the context."},
                          {"role": "user", "content": f"Context:\n{context_text}\n\nQuestion: {q['question']}"}],
            )
            answer = (reply.choices[0].message.content or "").strip()
            words = q["question"].lower().split()
            if words and words[0] in AUX:
                answer = ("No" if " not " in f" {answer.lower()} " else "Yes") + ". " + answer
            out.write(json.dumps({"id": q["id"], "answer": answer, "contexts": contexts}) + "\n")


if __name__ == "__main__":
    main()
