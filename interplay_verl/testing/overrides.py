"""verl overrides for the smallest real SFT run (tests and benchmarks, on toy data).

They drive verl's own trainer with the device overrides of ``devices.py``; only the data (toy
documents) is a test fixture.
"""

from __future__ import annotations


def tiny_sft_overrides(model_path: str, train_file: str, val_file: str, out_dir: str, steps: int,
                       batch_size: int = 16, lr: float = 3e-3) -> list[str]:
    return [
        f"data.train_files={train_file}",
        f"data.val_files={val_file}",
        "data.custom_cls.path=pkg://interplay_verl.data.plain_text",
        "data.custom_cls.name=PlainTextSFTDataset",
        f"data.train_batch_size={batch_size}",
        "data.micro_batch_size_per_gpu=8",
        "data.max_length=256",
        "data.use_dynamic_bsz=False",
        f"model.path={model_path}",
        f"optim.lr={lr}",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=100",
        "trainer.logger=[console,file]",
        f"trainer.default_local_dir={out_dir}",
        "trainer.project_name=interplay",
        "trainer.experiment_name=sft",
        "checkpoint.save_contents=[model,optimizer,extra,hf_model]",
    ]
