import CImageDecode
import DescriberImaging
import NIOCore

/// The JPEG and PNG decoder and its EXIF reader, through the API the host
/// decodes a request's picture with, under the default limits.
enum ImageFuzzer {
    /// The boxes functions declare: none (a bytes function's caller asking
    /// for the size), a detector's, a thumbnail's. The input's size picks
    /// one, so that an input always decodes the same way.
    static let boxes: [(width: Int?, height: Int?)] = [(nil, nil), (640, 640), (64, 48)]

    static func run(_ bytes: UnsafeRawBufferPointer) {
        // The EXIF reader on the raw bytes too: it reaches the reader's
        // branches without having to build a JPEG around them first.
        let orientation = describer_image_exif_orientation(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        precondition((1...8).contains(orientation), "an EXIF orientation out of range: \(orientation)")

        let box = boxes[bytes.count % boxes.count]
        let image: RGBImage
        do {
            image = try ImageDecoder.decode(bytes, maxWidth: box.width, maxHeight: box.height)
        } catch {
            precondition(!error.message.isEmpty, "an image error without a message")
            return
        }
        if let width = box.width, let height = box.height {
            precondition(image.width <= width && image.height <= height, "\(image.width) x \(image.height) does not fit the box")
        }
        // Every pixel the function will read is there.
        precondition(image.pixels.readableBytes >= image.stride * image.height)
        _ = image.pixel(x: image.width - 1, y: image.height - 1)
        // Sizing reads the header alone and must agree with the decode.
        if case .some((let width, let height)) = try? ImageDecoder.displayedSize(of: ByteBuffer(bytes: bytes)) {
            precondition(width == image.sourceWidth && height == image.sourceHeight, "the header and the decode disagree on the size")
        }
        // One decode serves functions with smaller boxes.
        if let smaller = image.fitted(maxWidth: 16, maxHeight: 16) {
            _ = smaller.pixel(x: smaller.width - 1, y: smaller.height - 1)
        }
    }
}
