"""Face recognition: an ArcFace-trained embedder, enrolment and matching of unseen people."""

from dlapps.faces.arcface import ArcFaceLoss, CosineHead
from dlapps.faces.eigenfaces import Eigenfaces
from dlapps.faces.face_data import FaceData, load_folder, load_generated, split_people
from dlapps.faces.face_recognizer import build_face_recognizer
from dlapps.faces.gallery import Gallery
from dlapps.faces.identity_renderer import IdentityRenderer
from dlapps.faces.mobile_face_net import build_mobile_face_net
from dlapps.faces.pretrained_embedder import build_pretrained_embedder

__all__ = [
    "ArcFaceLoss",
    "CosineHead",
    "Eigenfaces",
    "FaceData",
    "Gallery",
    "IdentityRenderer",
    "build_face_recognizer",
    "build_mobile_face_net",
    "build_pretrained_embedder",
    "load_folder",
    "load_generated",
    "split_people",
]
