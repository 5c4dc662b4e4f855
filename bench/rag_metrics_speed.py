"""Speed of the ``rag`` grader's offline metrics (ragas), per question, once ragas is imported.

    python bench/rag_metrics_speed.py [--questions 300] [--rounds 5]

Builds synthetic questions shaped like the genai_rag eval set (5 retrieved document ids, a
sentence-long answer, two references of which one is a sentence) and times
:func:`graders.ragas_adapter.offline_scores` over them: id-based context precision and recall,
ROUGE-L and chrF (the answer metrics of graders/rag_answers.py are plain Python and not timed here). Prints the import time, then the median over the
rounds in ms per question and seconds per 100 questions. Target: <= 10 ms per question.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

WORDS = (
    "koala eucalyptus leaves australia volta battery pile electric professor chemistry physics "
    "nairobi kenya capital city river language spoken million speakers painter museum work"
).split()


def synthetic(n: int, seed: int = 0):
    from graders.ragas_adapter import RagSample

    rng = random.Random(seed)
    docs = [f"set{s}/a{a}" for s in range(1, 7) for a in range(1, 11)]

    def sentence(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + "."

    samples = []
    for _ in range(n):
        answer = sentence(rng.randint(8, 30))
        references = (sentence(rng.randint(1, 4)), sentence(rng.randint(8, 20)))
        samples.append(
            RagSample(
                retrieved_doc_ids=tuple(rng.sample(docs, 5)),
                reference_doc_ids=(rng.choice(docs),),
                answer=answer,
                references=references,
            )
        )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    from graders import ragas_adapter

    ragas_adapter.load_ragas()
    ragas_adapter.offline_scores(synthetic(2, seed=99))  # builds the metric objects once
    print(f"ragas {ragas_adapter.ragas_version()} imported and metrics built in {time.perf_counter() - started:.1f} s")
    samples = synthetic(args.questions)
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        ragas_adapter.offline_scores(samples)
        times.append(time.perf_counter() - t0)
    per_question_ms = 1000 * statistics.median(times) / args.questions
    print(
        f"{args.questions} questions x {len(ragas_adapter.OFFLINE_METRICS)} metrics, {args.rounds} rounds: "
        f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})"
    )
    print(
        f"{per_question_ms:.2f} ms per question = {per_question_ms / 10:.3f} s per 100 questions "
        f"(target <= 10 ms per question: {'met' if per_question_ms <= 10 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
