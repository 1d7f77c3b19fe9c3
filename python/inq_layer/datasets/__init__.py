"""Datasets as Caffe reads them: Datum databases (datum_db), the digits and Fashion-MNIST
LMDBs of the main job and the replication, ImageNet-style image folders (imageset,
image_mean), and the Debian packages they come from (debian_data)."""
