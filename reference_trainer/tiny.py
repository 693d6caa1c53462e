"""A tiny, random-weight Qwen2-VL with an offline tokenizer and processor (for CPU tests and demos).

Nothing here touches the Hugging Face Hub: the byte-level BPE tokenizer is trained in-process on a
few strings, the image processor is the PIL backend (no torchvision), and the model is built from a
config (~200k parameters). ``save_tiny(path)`` writes a folder that ``from_pretrained`` loads.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import (  # noqa: E402
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
)
from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil  # noqa: E402
from transformers.processing_utils import ProcessorMixin  # noqa: E402

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
]
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

# Same structure as the released Qwen2-VL chat template.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "You are a helpful assistant.",
    "What is shown in the image? Answer with a number.",
    "### Image Description:\n### Rationales:\n### Let's think step by step.\n### Step 1:\n### Step 2:\n",
    "### The final answer is:\n",
    "<think> Let me count the shapes. </think> <answer> 3 </answer>",
    "The answer is \\frac{6}{3} = 2. \\boxed{2}",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) [ ] { } A B C D",
    "system user assistant",
]

# Optional extra corpus ("mulberry" vocabulary): R1-VL's section headers and common math-question words
# become single tokens, so a Mulberry-format answer is ~25% shorter (faster demos, fewer sampling slips).
MULBERRY_CORPUS = [
    "### Image Description:\n### Rationales:\n### Let's think step by step.\n### Step 1:\n### Step 2:\n"
    "### Step 3:\n### The final answer is:\n",
    "The image shows a triangle, a rectangle, a circle, a bar chart and a pie chart. The question asks for the "
    "total, the number, the length, the area, the angle, the mean and the percentage of the values.",
    "The figure is a right triangle with two legs and a hypotenuse. By the Pythagorean theorem the sum of the "
    "squares of the legs is the square of the hypotenuse.",
    "There are red and blue marbles in the bag. How many more are there? What is the value of x? Solve the "
    "equation. Answer Yes or No. Choices: A B C D",
    "We add, subtract, multiply and divide: 2 + 3 = 5, 6 - 4 = 2, 2 * 4 = 8, 2 \\times 4 = 8, 12 / 3 = 4, "
    "\\frac{5}{8}, \\sqrt{100} = 10, 3^2 + 4^2 = 25, 50%, 180°.",
]
VOCABS = {"basic": (), "mulberry": tuple(MULBERRY_CORPUS)}


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` without the video slot, so it builds and loads without torchvision."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def build_tokenizer(vocab_size: int = 512, vocab: str = "basic") -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on a few strings (deterministic, ~0.1 s); any text encodes.
    ``vocab="mulberry"`` adds ``MULBERRY_CORPUS`` to the training strings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    if vocab not in VOCABS:
        raise ValueError(f"unknown tiny vocab {vocab!r}. Fix: one of {sorted(VOCABS)}")
    tok.train_from_iterator([*_CORPUS, *VOCABS[vocab]], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )


def build_processor(tokenizer: PreTrainedTokenizerFast | None = None) -> ImageOnlyQwen2VLProcessor:
    tokenizer = tokenizer or build_tokenizer()
    # shortest_edge / longest_edge are min / max *pixel counts* in transformers 5.
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112})
    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                     chat_template=CHAT_TEMPLATE)


def build_model(tokenizer: PreTrainedTokenizerFast, seed: int = 0, hidden_size: int = 64,
                num_layers: int = 2) -> Qwen2VLForConditionalGeneration:
    """Random Qwen2-VL whose special-token ids are the tokenizer's."""
    torch.manual_seed(seed)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=2048,
            # head_dim = hidden/4 -> mrope_section must sum to head_dim / 2
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": _mrope_section(hidden_size // 8)},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=hidden_size, num_heads=2, mlp_ratio=2,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    return model


def _mrope_section(total: int) -> list[int]:
    t = total // 4
    rest = total - t
    return [t, rest // 2, rest - rest // 2]


def save_tiny(path: str | os.PathLike, seed: int = 0, vocab: str = "basic") -> Path:
    """Write a tiny Qwen2-VL (model + processor) to ``path``; returns the path."""
    path = Path(path)
    tokenizer = build_tokenizer(vocab=vocab)
    processor = build_processor(tokenizer)
    model = build_model(tokenizer, seed=seed)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
