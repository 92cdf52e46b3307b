"""demo_answer.py - the demo's answering model: a Python node that answers each clip's
multiple-choice question ("What kind of sound is heard in this clip?") from the audio under
the tokens a method kept, the way an audio-visual LLM answers from its pruned prompt.

It is a toy with numpy only, standing in for the researcher's PyTorch model
(examples/qwen2.5-omni/ is the real one): it listens to the log-mel frames that lie under the
kept audio tokens (4 frames of 10 ms per 40 ms token), measures four things a listener would
(how peaked the spectrum is, how many peaks it has, how much the loudness swings, how far the
strongest band wanders), and picks the nearest of four sound prototypes whose values are the
model's "weights", set by hand from how scripts/make-demo-data.sh makes each sound. Then it
reads the choices and answers with the letter of the one that names that sound. With no
audio token kept it hears nothing and answers "A", as a model guessing would.

Output `out`: metadata `answer` (the letter), `answer_text`, `heard` (the sound class), and
tensors `scores` F32 [4] (one per sound class, higher is closer) and `features` F32 [4].
evaluate-reduce scores `answer` against the manifest's `answer` field by category.
"""
import numpy as np

from sieve_node import BadInput, Bundle

SIEVE = {
    "version": "1.0.0",
    "summary": "answers the clip's multiple-choice sound question from the kept audio tokens",
    "class": "DemoAnswerer",
    "inputs": {
        "kept": "fuse-bidirectional output: modality, full_index of the kept tokens",
        "media": "decode output: mel [bins, frames] at 100 frames per second",
    },
    "outputs": {"out": "metadata answer (A-F), answer_text, heard; scores and features"},
    "params": {
        "tokens_per_second": {"type": "float", "default": 25.0, "min": 1, "max": 1000,
                              "doc": "audio tokens per second of the encoder"},
        "frames_per_second": {"type": "float", "default": 100.0, "min": 1, "max": 10000,
                              "doc": "mel frames per second of the decoder"},
    },
    "row_fields": ["question", "choices"],
}

SOUNDS = ("tone", "noise", "chord", "chirp")
# Words in a choice that name each sound.
WORDS = {"tone": ("tone", "beep"), "noise": ("noise", "rumbl"), "chord": ("chord", "music"),
         "chirp": ("chirp", "sweep")}
LETTERS = "ABCDEF"


class DemoAnswerer:
    def load(self, params, device):
        self.tps = params["tokens_per_second"]
        self.fps = params["frames_per_second"]
        # The weights: per sound, the expected (peakedness, loudness swing, band wander,
        # peak count), and the scale of each feature.
        self.protos = np.array([[0.8, 0.95, 22.0, 3.0],    # beeping tone: on/off, one peak
                                [0.77, 0.1, 2.5, 35.0],    # noise: flat, many small peaks
                                [1.9, 0.08, 1.0, 4.5],     # chord: a few sharp steady peaks
                                [1.08, 0.1, 14.0, 13.0]],  # chirp: the peak sweeps
                               dtype=np.float64)
        self.scale = np.array([0.3, 0.3, 6.0, 8.0])

    def features(self, mel, frames):
        s = mel[:, frames].astype(np.float64)
        med = np.median(s, axis=0)
        top = s.max(axis=0)
        inner = s[1:-1]
        peaks = (inner > s[:-2]) & (inner >= s[2:]) & (inner > top - 1.0)
        return np.array([np.mean(top - med), np.std(top), np.std(s.argmax(axis=0)),
                         np.mean(peaks.sum(axis=0))])

    def run(self, inputs, ctx):
        kept, media = inputs["kept"], inputs["media"]
        for name in ("modality", "full_index"):
            if name not in kept:
                raise BadInput("kept tokens lack '%s' (wire a fuse-bidirectional output)" % name)
        if "mel" not in media:
            raise BadInput("media lacks 'mel' (wire a decode output with audio)")
        mel = np.asarray(media["mel"])
        choices = ctx.sample.get("choices")
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
            raise BadInput("sample '%s' has no list of 2-6 choices" % ctx.sample.get("id"))
        idx = np.asarray(kept["full_index"])[np.asarray(kept["modality"]) == 1]
        per = self.fps / self.tps
        frames = np.unique(np.concatenate(
            [np.arange(int(i * per), int((i + 1) * per)) for i in idx] or [np.zeros(0, int)]))
        frames = frames[frames < mel.shape[1]]
        ctx.progress(0.5)
        if frames.size == 0:
            feats = np.zeros(4)
            scores = np.zeros(len(SOUNDS))
            heard, letter = "nothing", "A"
        else:
            feats = self.features(mel, frames)
            scores = -np.sum(((self.protos - feats) / self.scale) ** 2, axis=1)
            heard = SOUNDS[int(np.argmax(scores))]
            letter = "A"
            for k, text in enumerate(choices):
                if any(w in str(text).lower() for w in WORDS[heard]):
                    letter = LETTERS[k]
                    break
        text = str(choices[LETTERS.index(letter)])
        return Bundle({"scores": scores.astype(np.float32), "features": feats.astype(np.float32)},
                      {"answer": letter, "answer_text": text, "heard": heard})

