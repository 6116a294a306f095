// Package thumbs makes hotel photo thumbnails with a background job. The
// tenant app enqueues [Args] in the tenant's transaction after an upload;
// the job runs for that tenant (package condojobs), so the files it opens
// and writes are that tenant's (package condofiles takes the tenant from
// the context): keys in the job's arguments cannot reach another
// tenant's photo.
//
// A thumbnail is at most [Width] pixels wide, a JPEG, scaled with
// golang.org/x/image/draw's Catmull-Rom filter; a photo of more than
// [MaxPixels] is refused before it is decoded (a decompression bomb).
package thumbs
