"""Small made-up text sets for fast tests (no files, no network)."""

import json
import re

import numpy as np

GOOD = ["wonderful", "great", "brilliant", "delightful", "superb", "moving", "charming", "excellent"]
BAD = ["boring", "awful", "dull", "terrible", "tedious", "clumsy", "lifeless", "dreadful"]
THINGS = ["film", "movie", "story", "script", "cast", "ending", "soundtrack", "direction"]


def reviews(n=80, seed=0):
    """Binary sentiment: texts with a good or a bad word, labels "pos" / "neg"."""
    rng = np.random.RandomState(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        word = rng.choice(GOOD if positive else BAD)
        thing = rng.choice(THINGS)
        template = rng.choice(["the {t} was {w}", "a {w} {t} overall", "i found the {t} {w} and long",
                               "honestly {w}, the {t} says it all"])
        texts.append(template.format(t=thing, w=word))
        labels.append("pos" if positive else "neg")
    return texts, np.array(labels)


TOPICS = {
    "sport": ["the team won the match", "a late goal in the final", "the striker scored twice",
              "the coach praised the players", "fans cheered the league title"],
    "money": ["shares fell on weak profit", "the bank raised interest rates", "quarterly revenue grew",
              "investors sold the stock", "the market closed higher on earnings"],
    "science": ["researchers found a new planet", "the telescope captured images", "a study of cell biology",
                "scientists tested the vaccine", "the lab measured the particle"],
}


def topics(n_per_class=20, seed=0):
    """Three classes of short news-like texts."""
    rng = np.random.RandomState(seed)
    texts, labels = [], []
    for label, base in TOPICS.items():
        for i in range(n_per_class):
            texts.append(f"{base[i % len(base)]} {rng.choice(['today', 'this week', 'again', 'as expected'])}")
            labels.append(label)
    return texts, np.array(labels)


def answer_review_questions(messages) -> str:
    """A scripted chat model's answer to a measurement prompt about one review: "praise" questions
    are yes when a GOOD word occurs, "complain" questions when a BAD word does, anything else when
    "cast" does. A prompt without a text is a repair request: the model repeats itself."""
    prompt = messages[-1]["content"]
    found = re.search(r"<text>(.*?)</text>", prompt, re.S)
    if found is None:
        return messages[-2]["content"]
    text = found.group(1)
    answers = []
    for question in re.findall(r"^\d+\. (.*)$", prompt, re.M):
        if "praise" in question:
            answers.append("yes" if any(w in text for w in GOOD) else "no")
        elif "complain" in question:
            answers.append("yes" if any(w in text for w in BAD) else "no")
        else:
            answers.append("yes" if "cast" in text else "no")
    return json.dumps({"answers": answers})


def scripted_rules(questions, claimed):
    """A scripted chat model for rule lists: a proposal prompt gets ``questions``, a rule prompt the
    rules ``claimed``, a measurement prompt :func:`answer_review_questions`."""

    def answer(messages, body):
        prompt = messages[-1]["content"]
        if "IF <condition> THEN <label>" in prompt:
            return json.dumps({"rules": claimed})
        if "yes/no questions" in prompt:
            return json.dumps({"questions": questions})
        return answer_review_questions(messages)

    return answer
