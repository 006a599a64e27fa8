import subprocess
import sys
import textwrap


def run(code):
    result = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_models_load_on_first_build():
    out = run(
        """
        import sys
        import dfine_mm
        from mmdet.registry import MODELS
        print('dfine_mm.models' in sys.modules)
        model = MODELS.build(dict(type='HGNetV2', arch='B0'))
        print(type(model).__name__, 'dfine_mm.models' in sys.modules)
        """
    )
    assert out == ['False', 'HGNetV2', 'True']


def test_registry_already_loaded_imports_now():
    out = run(
        """
        from mmdet.registry import MODELS
        MODELS.get('DINO')  # mmdet's registry loads its locations now
        import dfine_mm
        print('DFINE' in MODELS.module_dict, 'HGNetV2' in MODELS.module_dict)
        """
    )
    assert out == ['True', 'True']


def test_custom_imports_in_a_config_find_the_detector(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['dfine_mm'], "
        'allow_failed_imports=False)\n'
        "model = dict(type='DFineHybridEncoder', in_channels=(64, 128),"
        ' hidden_dim=32, dim_feedforward=64, use_encoder_idx=(1,))\n'
    )
    out = run(
        f"""
        from mmengine.config import Config
        from mmdet.registry import MODELS
        cfg = Config.fromfile({str(cfg)!r})
        print(type(MODELS.build(cfg.model)).__name__)
        """
    )
    assert out == ['DFineHybridEncoder']
