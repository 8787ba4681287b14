/*
 * vision.cpp — the image operations of vision.h (imgproc): blobs, regions,
 * rotated rectangles, perspective crops.
 */
#include "vision.h"
#include "vision_internal.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

using vision_detail::guarded;
using vision_detail::report;

namespace {

/* The host's buffer seen as an OpenCV matrix, without a copy. */
cv::Mat borrowed(const vision_image &image) {
    return cv::Mat(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3,
                   const_cast<uint8_t *>(image.data), image.stride);
}

bool usable(const vision_image *image) {
    return image != nullptr && image->data != nullptr && image->width > 0 && image->height > 0 &&
           image->stride >= image->width * 3;
}

/* Corners of a rotated rectangle in vision_quad order. OpenCV returns them
 * in an order that depends on the angle; sorting by x and then taking the
 * upper of each pair gives a stable reading order for rotations under 45°. */
vision_quad ordered(const cv::RotatedRect &rect) {
    cv::Point2f corners[4];
    rect.points(corners);
    std::sort(corners, corners + 4, [](const cv::Point2f &a, const cv::Point2f &b) { return a.x < b.x; });
    cv::Point2f topLeft = corners[0].y <= corners[1].y ? corners[0] : corners[1];
    cv::Point2f bottomLeft = corners[0].y <= corners[1].y ? corners[1] : corners[0];
    cv::Point2f topRight = corners[2].y <= corners[3].y ? corners[2] : corners[3];
    cv::Point2f bottomRight = corners[2].y <= corners[3].y ? corners[3] : corners[2];
    const cv::Point2f order[4] = {topLeft, topRight, bottomRight, bottomLeft};
    vision_quad quad;
    for (int i = 0; i < 4; i++) {
        quad.x[i] = order[i].x;
        quad.y[i] = order[i].y;
    }
    return quad;
}

} // namespace

extern "C" {

int vision_blob(const vision_image *image, int width, int height, vision_fit fit, float pad, float scale,
                const float mean[3], const float std[3], int bgr, float *out, vision_geometry *geometry, char *error,
                size_t error_size) {
    if (!usable(image) || width <= 0 || height <= 0 || out == nullptr) {
        report(error, error_size, "vision_blob: no image or no output");
        return -1;
    }
    return guarded(error, error_size, [&] {
        cv::Mat source = borrowed(*image);
        float scaleX = static_cast<float>(width) / image->width, scaleY = static_cast<float>(height) / image->height;
        cv::Size size(width, height);
        if (fit == VISION_FIT_LETTERBOX) {
            scaleX = scaleY = std::min(scaleX, scaleY);
            size = cv::Size(std::max(1, std::min(width, static_cast<int>(std::lround(image->width * scaleX)))),
                            std::max(1, std::min(height, static_cast<int>(std::lround(image->height * scaleY)))));
        }
        cv::Mat resized;
        cv::resize(source, resized, size, 0, 0, cv::INTER_LINEAR);
        const size_t plane = static_cast<size_t>(width) * height;
        std::fill(out, out + 3 * plane, pad);
        for (int c = 0; c < 3; c++) {
            int from = bgr ? 2 - c : c;
            float factor = scale / std[c], offset = -mean[c] / std[c];
            float *target = out + c * plane;
            for (int row = 0; row < resized.rows; row++) {
                const uint8_t *pixels = resized.ptr<uint8_t>(row);
                float *line = target + static_cast<size_t>(row) * width;
                for (int column = 0; column < resized.cols; column++) line[column] = pixels[column * 3 + from] * factor + offset;
            }
        }
        if (geometry != nullptr) *geometry = {scaleX, scaleY};
        return 0;
    });
}

long vision_regions(const float *map, int width, int height, float threshold, vision_region *regions, size_t capacity,
                    char *error, size_t errorSize) {
    if (map == nullptr || width <= 0 || height <= 0) {
        report(error, errorSize, "vision_regions: no map");
        return -1;
    }
    long found = 0;
    int status = guarded(error, errorSize, [&] {
        cv::Mat probability(height, width, CV_32F, const_cast<float *>(map));
        cv::Mat mask = probability > threshold;
        cv::dilate(mask, mask, cv::Mat::ones(2, 2, CV_8U));
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(mask, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
        for (const auto &contour : contours) {
            cv::RotatedRect rect = cv::minAreaRect(contour);
            vision_region region;
            region.box = ordered(rect);
            region.short_side = std::min(rect.size.width, rect.size.height);
            /* Mean probability inside the rectangle, over its bounding box. */
            cv::Rect bounds = cv::boundingRect(contour) & cv::Rect(0, 0, width, height);
            cv::Mat inside = cv::Mat::zeros(bounds.size(), CV_8U);
            std::vector<cv::Point> corners(4);
            for (int i = 0; i < 4; i++) {
                corners[i] = cv::Point(static_cast<int>(std::lround(region.box.x[i])) - bounds.x,
                                       static_cast<int>(std::lround(region.box.y[i])) - bounds.y);
            }
            cv::fillPoly(inside, std::vector<std::vector<cv::Point>>{corners}, cv::Scalar(1));
            region.score = static_cast<float>(cv::mean(probability(bounds), inside)[0]);
            if (static_cast<size_t>(found) < capacity) regions[found] = region;
            found++;
        }
        return 0;
    });
    return status == 0 ? found : -1;
}

int vision_grey_thumbnail(const vision_image *image, int width, int height, uint8_t *out, char *error, size_t errorSize) {
    if (!usable(image) || width <= 0 || height <= 0 || out == nullptr) {
        report(error, errorSize, "no image or no room for the thumbnail");
        return -1;
    }
    return guarded(error, errorSize, [&] {
        cv::Mat small;
        cv::resize(borrowed(*image), small, cv::Size(width, height), 0, 0, cv::INTER_AREA);
        cv::Mat grey(height, width, CV_8UC1, out);
        cv::cvtColor(small, grey, cv::COLOR_RGB2GRAY);
        return 0;
    });
}

int vision_min_area_rect(const float *x, const float *y, size_t count, vision_quad *out) {
    if (x == nullptr || y == nullptr || count == 0 || out == nullptr) return -1;
    return guarded(nullptr, 0, [&] {
        std::vector<cv::Point2f> points(count);
        for (size_t i = 0; i < count; i++) points[i] = cv::Point2f(x[i], y[i]);
        *out = ordered(cv::minAreaRect(points));
        return 0;
    });
}

int vision_crop(const vision_image *image, const vision_quad *quad, int width, int height, uint8_t *out, char *error,
                size_t errorSize) {
    if (!usable(image) || quad == nullptr || width <= 0 || height <= 0 || out == nullptr) {
        report(error, errorSize, "vision_crop: no image, region or output");
        return -1;
    }
    return guarded(error, errorSize, [&] {
        cv::Point2f from[4], to[4] = {{0, 0},
                                      {static_cast<float>(width), 0},
                                      {static_cast<float>(width), static_cast<float>(height)},
                                      {0, static_cast<float>(height)}};
        for (int i = 0; i < 4; i++) from[i] = cv::Point2f(quad->x[i], quad->y[i]);
        cv::Mat target(height, width, CV_8UC3, out);
        cv::warpPerspective(borrowed(*image), target, cv::getPerspectiveTransform(from, to), target.size(),
                            cv::INTER_CUBIC, cv::BORDER_REPLICATE);
        return 0;
    });
}

} // extern "C"
