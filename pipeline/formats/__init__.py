"""Readers and writers of the skeleton ecosystem's pose formats: pyskl/mmaction2 pickles, OpenPose
``--write_json`` folders and ST-GCN's Kinetics-skeleton JSON. Each reader yields
:class:`pipeline.formats.common.SourceVideo` records; the pose stage's ``import`` estimator
(pipeline/pose/importer.py) maps them to the 14 keypoints and the manifest's videos."""
